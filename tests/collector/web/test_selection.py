"""Why a sample was kept (``selection``): on the wire, stored by ingest, counted on the dashboard,
filterable in the queue and the API, selectable in a recipe."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from facetrove import wire
from facetrove.collector.store.samples import insert_samples as store_insert
from facetrove.collector.store.samples import row_from_sample
from facetrove.collector.versions.build import create_version
from facetrove.collector.versions.recipe import RecipeError
from tests.collector.web.factory import insert_samples, sample_rows
from tests.wire.factory import CROP, header_dict, valid_header

KEPT = ("heartbeat", "uncertain", "expression_change", None)


@pytest.fixture
def mixed(store: Any, faces: list[Any]) -> list[dict[str, object]]:
    rows = sample_rows(faces, 40)
    for i, row in enumerate(rows):
        row["selection"] = KEPT[i % len(KEPT)]
    insert_samples(store, rows)
    return rows


def test_wire_selection_is_optional_and_checked() -> None:
    assert valid_header(CROP).selection is None  # older agents send none
    assert valid_header(CROP, selection="heartbeat").selection == "heartbeat"
    assert valid_header(CROP, selection="future_rule_2").selection == "future_rule_2"
    for bad in ("<script>", "", "Heartbeat", "x" * 33, "1st", "best of window"):
        with pytest.raises(ValidationError):
            valid_header(CROP, selection=bad)
    with pytest.raises(ValidationError):  # strict: not a number
        wire.SampleHeader.model_validate_json(json.dumps(header_dict(CROP, selection=3)))
    assert set(wire.SELECTIONS) >= {"best_of_window", "expression_change", "heartbeat", "import"}


def test_ingest_row_keeps_selection(store: Any) -> None:
    header = valid_header(CROP, selection="expression_change")
    sample = wire.decode_sample(wire.encode_sample(header, CROP))
    with store.conn:
        store_insert(store, [row_from_sample(sample, "2026-11-26T10:00:00+00:00")])
    got = store.execute("select selection from samples where id = ?", [header.sample_id])
    assert got.fetchone()[0] == "expression_change"


def test_dashboard_queue_and_api_use_selection(client, auth, mixed) -> None:  # type: ignore[no-untyped-def]
    auth.login()
    figures = client.get("/api/dashboard").get_json()
    assert figures["selection"] == {"heartbeat": 10, "uncertain": 10, "expression_change": 10,
                                    "(none)": 10}  # fmt: skip
    page = client.get("/dashboard/").get_data(as_text=True)
    assert 'id="selection"' in page and "heartbeat" in page
    html = client.get("/review?selection=heartbeat").get_data(as_text=True)
    ids = set(re.findall(r'data-id="([0-9A-Z]{26})"', html))
    heartbeat = {r["id"] for r in mixed if r["selection"] == "heartbeat"}
    assert ids and ids <= heartbeat
    assert '<option value="uncertain"' in html  # the filter lists what is stored
    api = client.get("/api/samples?selection=uncertain").get_json()
    assert api["samples"] and all(s["selection"] == "uncertain" for s in api["samples"])


def test_recipe_selects_by_selection(app, store, mixed) -> None:  # type: ignore[no-untyped-def]
    store.execute("UPDATE samples SET state = 'confirmed', label = prelabel_label")
    store.conn.commit()
    data = Path(app.config["FACETROVE"].data_dir)
    version = create_version(data, store, "selection: [heartbeat]\n", progress=False)
    want = {r["crop_sha256"] for r in mixed if r["selection"] == "heartbeat"}
    assert version.samples == len(want)  # byte-identical crops count once
    with pytest.raises(RecipeError, match=r"selection: unknown name 'hearbeat'"):
        create_version(data, store, "selection: [hearbeat]\n", progress=False)
