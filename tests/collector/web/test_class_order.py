"""Reordering classes (number keys follow the order): the CLI, the API and the admin page."""

from __future__ import annotations

from click.testing import CliRunner

from facetrove.cli import cli as main
from facetrove.collector.store.classes import class_names


def test_cli_orders_classes_and_refuses_an_incomplete_list(store, config):
    runner = CliRunner()
    base = ["collector", "classes", "order", "--data-dir", str(config.data_dir)]
    order = ["happy", "sad", "neutral", "angry", "fear", "surprise", "disgust"]
    ok = runner.invoke(main, [*base, *order])
    assert ok.exit_code == 0, ok.output
    assert "1 happy, 2 sad" in ok.output
    bad = runner.invoke(main, [*base, "happy", "happy", "glad"])
    assert bad.exit_code == 1
    assert (
        "missing: " in bad.output and "unknown: glad" in bad.output and "twice: happy" in bad.output
    )
    assert class_names(store) == order


def test_api_and_page_reorder_and_the_queue_palette_follows(client, auth, store, samples):
    auth.login()
    order = list(reversed(class_names(store)))
    resp = client.put("/api/classes", json={"order": order}, headers=auth.headers())
    assert resp.status_code == 200 and resp.get_json()["classes"] == order
    assert (
        client.put("/api/classes", json={"order": order[:2]}, headers=auth.headers()).status_code
        == 400
    )
    page = client.get("/review/classes").get_data(as_text=True)
    assert "move surprise up" in page
    client.post("/review/classes", data={"csrf_token": auth.token, "name": order[1], "move": "up"})
    assert class_names(store)[:2] == [order[1], order[0]]
    queue = client.get("/review").get_data(as_text=True)
    assert f"<kbd>1</kbd> {order[1]}" in queue
    auth.logout()
    auth.login("bob")
    assert client.get("/review/classes").status_code == 403
