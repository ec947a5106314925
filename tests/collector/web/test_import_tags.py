"""An import's source tag and selection reason: shown in the detail view, filterable in the
queue, selectable in a recipe; import decisions are not counted as reviewer throughput."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.versions.build import create_version
from facetrove.collector.versions.recipe import RecipeError
from tests.collector.importer.conftest import write_crops, write_people


def _import(app, store, folder: Path, **options: object):  # type: ignore[no-untyped-def]
    data = Path(app.config["FACETROVE"].data_dir)
    return Importer(data, store, ImportOptions(**options)).run(folder)  # type: ignore[arg-type]


def test_tag_in_detail_queue_filter_and_recipe(app, client, auth, store, tmp_path):
    write_crops(tmp_path / "a", per_face=1)
    write_crops(tmp_path / "b", per_face=2)
    a = _import(app, store, tmp_path / "a", tag="set A, CC0", state="pending")
    b = _import(app, store, tmp_path / "b", tag="set B (research only)", state="pending")
    assert a.imported and b.imported
    auth.login()
    html = client.get("/review?tag=set+A%2C+CC0").get_data(as_text=True)
    ids = re.findall(r'data-id="([0-9A-Z]{26})"', html)
    assert len(ids) == a.imported and "set B (research only)" in html  # the select lists it
    detail = client.get(f"/review/sample/{ids[0]}").get_data(as_text=True)
    assert "set A, CC0" in detail and "Kept because" in detail and ">import<" in detail
    # the JSON detail says the same as the page: before, it had no tag and no source
    info = client.get(f"/api/samples/{ids[0]}").get_json()
    assert info["tag"] == "set A, CC0" and info["selection"] == "import"
    assert info["source"].startswith("import:a/")
    api = client.get("/api/samples?tag=set+B+%28research+only%29").get_json()
    assert len(api["samples"]) == min(b.imported, 24)

    # confirm everything, then build a version of set A only
    store.execute("UPDATE samples SET state = 'confirmed', label = provided_label")
    data = Path(app.config["FACETROVE"].data_dir)
    version = create_version(data, store, "tags: ['set A, CC0']\n", progress=False)
    assert version.samples == a.imported
    with pytest.raises(RecipeError, match=r"tags: unknown tag 'set C'.*known: 'set A, CC0'"):
        create_version(data, store, "tags: ['set C']\n", progress=False)


def test_import_decisions_are_not_reviewer_throughput(app, client, auth, store, tmp_path):
    write_crops(tmp_path / "a", per_face=1)
    alice = store.execute("select id from users where username = 'alice'").fetchone()[0]
    summary = _import(app, store, tmp_path / "a", user_id=alice)
    assert (
        store.execute("select count(*) from decisions where user_id = ?", [alice]).fetchone()[0]
        == summary.imported
    )
    auth.login()
    data = client.get("/api/dashboard").get_json()
    assert all(row["reviewer"] != "alice" for row in data["throughput"]), data["throughput"]


def test_subject_in_the_detail_page_and_json(app, client, auth, store, tmp_path):
    write_people(tmp_path / "posed", per_face=2)
    summary = _import(app, store, tmp_path / "posed", subject_from=r"regex:^(p[0-9]+)[.]")
    assert summary.imported == 16
    auth.login()
    row = store.execute("select id, subject from samples order by id limit 1").fetchone()
    info = client.get(f"/api/samples/{row[0]}").get_json()
    assert info["subject"] == row[1] and row[1].startswith("p")
    detail = client.get(f"/review/sample/{row[0]}").get_data(as_text=True)
    assert "<dt>Subject</dt>" in detail and f'<dd class="subject">{row[1]}</dd>' in detail
    # a sample without one has null, and the page no Subject line
    write_crops(tmp_path / "plain", per_face=1, size=64)  # other bytes than the posed crops
    _import(app, store, tmp_path / "plain")
    plain = store.execute("select id from samples where subject is null limit 1").fetchone()[0]
    assert client.get(f"/api/samples/{plain}").get_json()["subject"] is None
    assert "<dt>Subject</dt>" not in client.get(f"/review/sample/{plain}").get_data(as_text=True)
