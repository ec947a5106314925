"""Dashboard figures and charts, the OpenAPI file, and the CLI commands of this area."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from facetrove.collector.cli import collector
from facetrove.collector.store import reviews
from facetrove.collector.store.users import find_user
from facetrove.collector.web import charts

OPENAPI = Path(__file__).parents[3] / "collector" / "web" / "openapi.yaml"


def test_dashboard_counts_balance_confusion_and_warns_on_imbalance(client, auth, store, samples):
    alice = find_user(store, "alice").id
    items = [reviews.DecisionIn(s["id"], "label", "happy") for s in samples[:12]]
    items += [reviews.DecisionIn(s["id"], "label", "sad") for s in samples[12:14]]
    items += [reviews.DecisionIn(samples[14]["id"], "reject")]
    reviews.decide(store, alice, items)
    auth.login()
    f = client.get("/api/dashboard").get_json()
    assert f["class_balance"]["happy"] == 12 and f["class_balance"]["sad"] == 2
    assert f["states"] == {"pending": 45, "confirmed": 14, "rejected": 1}
    assert "Class imbalance" in f["imbalance_warning"]
    pre_happy = sum(1 for s in samples[:12] if s["prelabel_label"] == "happy")
    assert f["confusion"].get("happy", {}).get("happy", 0) == pre_happy
    assert f["per_device"]["cam-kitchen"]["pending"] + f["per_device"]["cam-lobby"]["pending"] == 45
    assert sum(b["samples"] for b in f["confidence_histogram"]) == 60
    assert sum(b["samples"] for b in f["face_size_histogram"]) == 60
    assert f["throughput"][0]["reviewer"] == "alice" and f["throughput"][0]["decisions"] == 15
    html = client.get("/dashboard/").get_data(as_text=True)
    assert html.count('<svg class="chart"') == 9  # with selection and accuracy per model
    assert "Confirmed samples per class" in html and "Class imbalance" in html
    assert "pre-label ↓ / confirmed →" in html


def test_charts_escape_labels_and_handle_no_data():
    svg = charts.bar_chart([("<script>", 3)], "t<i>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "t&lt;i&gt;" in svg
    assert "no data yet" in charts.column_chart([], "empty")
    stacked = charts.stacked_bar_chart(
        [("dev", {"pending": 2, "confirmed": 1})], reviews.STATES, "s"
    )
    assert stacked.count("<rect") == 2 + 3  # two bars + three legend keys


def test_every_api_route_is_in_the_openapi_file(app, client, auth):
    spec = yaml.safe_load(OPENAPI.read_text())
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (path, method.lower()) not in documented:
                missing.append(f"{method} {path}")
    assert not missing, f"undocumented API routes: {missing}"
    auth.login()
    served = client.get("/api/openapi.yaml")
    assert served.status_code == 200 and yaml.safe_load(served.data)["openapi"].startswith("3.")


def test_cli_users_tokens_and_classes(tmp_path):
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path / "d")]
    out = runner.invoke(
        collector,
        ["user", "add", "carol", "--role", "admin", "--password-stdin", *d],
        input="long enough password\n",
    )
    assert out.exit_code == 0 and "created admin carol" in out.output
    again = runner.invoke(
        collector, ["user", "add", "carol", "--password-stdin", *d], input="x" * 9
    )
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(
        collector, ["user", "add", "dan", "--password-stdin", *d], input="short\n"
    )
    assert short.exit_code == 1 and "at least 8" in short.output
    assert "carol\tadmin" in runner.invoke(collector, ["user", "list", *d]).output
    token = runner.invoke(collector, ["user", "token", "carol", *d]).output.strip()
    assert token.startswith("ft_") and len(token) > 40
    assert runner.invoke(collector, ["user", "token", "nobody", *d]).exit_code == 1
    assert runner.invoke(collector, ["classes", "add", "contempt", *d]).exit_code == 0
    renamed = runner.invoke(collector, ["classes", "rename", "angry", "anger", *d])
    assert renamed.exit_code == 0
    listing = runner.invoke(collector, ["classes", "list", *d]).output
    assert listing.startswith("1\tanger") and "8\tcontempt" in listing
    bad = runner.invoke(collector, ["classes", "rename", "nope", "x", *d])
    assert bad.exit_code == 1 and "no active class" in bad.output


def test_every_command_of_this_area_has_help():
    runner = CliRunner()
    for args in (
        ["web"],
        ["user"],
        ["user", "add"],
        ["user", "list"],
        ["user", "token"],
        ["classes"],
        ["classes", "list"],
        ["classes", "add"],
        ["classes", "rename"],
    ):
        out = runner.invoke(collector, [*args, "--help"])
        assert out.exit_code == 0 and len(out.output) > 80, args
