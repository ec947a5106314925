"""Byte-identical crops (the same upload twice, the demo twice, an agent re-run): one rule decides
what the queue, the dashboard and the versions hold, so their figures agree."""

from __future__ import annotations

from typing import Any

from facetrove.collector.store.db import write_transaction
from facetrove.collector.store.samples import insert_samples
from facetrove.collector.versions.build import create_version
from facetrove.wire.ids import new_sample_id
from tests.collector.web.factory import sample_rows


def _store_twice(store: Any, faces: Any) -> list[dict[str, Any]]:
    """Each real face once, then again with new sample ids (a re-run of the same source)."""
    first = sample_rows(faces, len(faces), labels=("happy",))
    again = [{**row, "id": new_sample_id()} for row in first]
    for batch in (first, again):
        with write_transaction(store):
            insert_samples(store, batch)
    return first


def test_a_rerun_is_neither_queued_again_nor_counted_twice(client, auth, store, faces, config):
    first = _store_twice(store, faces)
    unique = {row["crop_sha256"] for row in first}
    auth.login()
    page = client.get("/api/samples?page_size=100").get_json()["samples"]
    shown = [card["id"] for card in page]
    assert sorted(shown) == sorted(row["id"] for row in first if row["crop_sha256"] in unique)
    assert len(shown) == len(unique)
    decisions = [{"sample_id": i, "action": "label", "label": "happy"} for i in shown]
    assert client.post("/api/decisions", json={"decisions": decisions}, headers=auth.headers())
    # A duplicate decided directly (its detail page, the API) does not count either.
    dup = store.execute("SELECT id FROM samples WHERE duplicate_of IS NOT NULL").fetchone()[0]
    one = [{"sample_id": dup, "action": "label", "label": "happy"}]
    client.post("/api/decisions", json={"decisions": one}, headers=auth.headers())
    board = client.get("/api/dashboard").get_json()
    version = create_version(config.data_dir, store, "task: classification", progress=False)
    assert board["class_balance"]["happy"] == len(unique) == version.samples
    assert board["states"]["pending"] == 0
    assert client.get("/api/samples").get_json()["samples"] == []
