"""The versions pages through the real app factory, a real store and the real login form."""

from __future__ import annotations

import io
import sqlite3
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pycocotools.coco import COCO

from facetrove.collector.config import CollectorConfig
from facetrove.collector.store.users import create_user
from facetrove.collector.versions import build
from facetrove.collector.web import create_app
from tests.collector.versions.factory import FactoryStore
from tests.collector.web.conftest import PASSWORD, AuthActions


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    store = FactoryStore(tmp_path / "data")
    store.add(30, tracks=10)
    create_user(store.db, "alice", PASSWORD, "reviewer")
    config = CollectorConfig.model_validate(
        {"data_dir": str(store.data_dir), "web": {"secret_key": "test-" + "k" * 40}}
    )
    return create_app(config, {"TESTING": True}).test_client()


def test_login_is_required(client: FlaskClient) -> None:
    for path in ("/versions/", "/versions/new", "/versions/v1", "/versions/v1/export/coco.zip"):
        resp = client.get(path)
        assert resp.status_code in (302, 401), path
        if resp.status_code == 302:
            assert "/auth/login" in resp.headers["Location"]


def test_create_show_and_download(client: FlaskClient, tmp_path: Path) -> None:
    auth = AuthActions(client)
    assert auth.login().status_code == 302
    page = client.get("/versions/new").get_data(as_text=True)
    assert "<textarea" in page and "augmentations" in page
    recipe = "classes: [angry, happy, neutral, sad, surprise]\naugmentations: {flip: {}}\n"
    resp = client.post(
        "/versions/new", data={"recipe": recipe, "name": "web-1", "csrf_token": auth.token}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    client.application.extensions["facetrove.job_registry"].wait(120)
    show = client.get("/versions/web-1").get_data(as_text=True)
    assert "Leakage report" in show and "tracks straddling splits" in show
    assert "web-1" in client.get("/versions/").get_data(as_text=True)
    zipped = client.get("/versions/web-1/export/coco.zip")
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
    zipfile.ZipFile(io.BytesIO(zipped.data)).extractall(tmp_path / "coco")
    coco = COCO(str(tmp_path / "coco" / "train" / "_annotations.coco.json"))
    assert len(coco.getAnnIds()) > 0
    assert client.get("/versions/web-1/export/pdf.zip").status_code == 404
    assert client.get("/versions/nope").status_code == 404


def test_bad_recipe_is_shown_again_with_its_errors(client: FlaskClient) -> None:
    """Tried: ratios summing to 1.2 and an unknown augmentation. Kept: the text as typed, no
    version."""
    auth = AuthActions(client)
    auth.login()
    recipe = "split: {train: 0.9, valid: 0.2, test: 0.1}\naugmentations: {sharpen: {}}\n"
    resp = client.post("/versions/new", data={"recipe": recipe, "csrf_token": auth.token})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "split ratios must sum to 1" in html
    assert "augmentations.sharpen: unknown augmentation" in html
    assert "sharpen: {}" in html  # the user's text is kept for fixing
    assert "No versions yet" in client.get("/versions/").get_data(as_text=True)


def test_build_runs_in_the_background_and_the_page_follows_it(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image writing is held on a gate the test opens only after the POST has answered: a
    build inside the request could not have returned. Kept: a "building" page that refreshes
    itself, then the ready card once the gate opens."""
    gate = threading.Event()
    real_run_jobs = build.run_jobs

    def gated_run_jobs(*args: Any, **kwargs: Any) -> Any:
        if not gate.wait(60):
            raise RuntimeError("the test never opened the gate")
        return real_run_jobs(*args, **kwargs)

    monkeypatch.setattr(build, "run_jobs", gated_run_jobs)
    auth = AuthActions(client)
    auth.login()
    resp = client.post(
        "/versions/new", data={"recipe": "seed: 3\n", "name": "bg-1", "csrf_token": auth.token}
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/versions/bg-1")
    building = client.get("/versions/bg-1").get_data(as_text=True)
    assert "building" in building and 'http-equiv="refresh"' in building
    assert "Leakage report" not in building
    gate.set()
    client.application.extensions["facetrove.job_registry"].wait(120)
    ready = client.get("/versions/bg-1").get_data(as_text=True)
    assert "Leakage report" in ready and 'http-equiv="refresh"' not in ready
    assert 'pill-on">ready<' in ready


def test_a_build_that_fails_in_the_background_shows_its_error(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tried: a worker dying mid-build. Kept: the version marked failed with the error on its
    page (which stops refreshing), the samples untouched."""

    def dying_run_jobs(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a worker process died")

    monkeypatch.setattr(build, "run_jobs", dying_run_jobs)
    auth = AuthActions(client)
    auth.login()
    resp = client.post(
        "/versions/new", data={"recipe": "seed: 3\n", "name": "bg-2", "csrf_token": auth.token}
    )
    assert resp.status_code == 302
    client.application.extensions["facetrove.job_registry"].wait(120)
    page = client.get("/versions/bg-2").get_data(as_text=True)
    assert "failed" in page and "a worker process died" in page
    assert 'http-equiv="refresh"' not in page


def test_a_name_that_is_a_path_is_refused_on_the_form(client: FlaskClient, tmp_path: Path) -> None:
    """Tried: the name field posted as '../../evil', bypassing the browser's pattern check.
    Kept: the form again with the error, no version, nothing written outside versions/."""
    auth = AuthActions(client)
    auth.login()
    resp = client.post(
        "/versions/new",
        data={"recipe": "seed: 1\n", "name": "../../evil", "csrf_token": auth.token},
    )
    assert resp.status_code == 400
    assert "is not allowed" in resp.get_data(as_text=True)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "evil.partial").exists()
    assert "No versions yet" in client.get("/versions/").get_data(as_text=True)


def test_versions_api_with_a_bearer_token(client: FlaskClient) -> None:
    """Tried: a script (bearer token, no CSRF) posting a bad recipe, then a good one, then
    asking for an unknown version. Kept: the bad recipe refused with its errors and no version;
    the good one building at once, then ready with its card and a zip that downloads."""
    from facetrove.collector.store import DB_NAME, connect
    from facetrove.collector.store.users import issue_token

    db = connect(Path(client.application.config["FACETROVE"].data_dir) / DB_NAME)
    bearer = {"Authorization": f"Bearer {issue_token(db, 'alice')}"}
    db.conn.close()
    bad = client.post("/api/versions", json={"recipe": "multiplier: 11\n"}, headers=bearer)
    assert bad.status_code == 400 and "multiplier" in bad.json["error"]
    assert client.get("/api/versions", headers=bearer).json["versions"] == []
    resp = client.post(
        "/api/versions", json={"recipe": "seed: 2\n", "name": "api-1"}, headers=bearer
    )
    assert resp.status_code == 202 and resp.json["id"] == "api-1"
    client.application.extensions["facetrove.job_registry"].wait(120)
    v = client.get("/api/versions/api-1", headers=bearer).json
    assert v["status"] == "ready" and v["card"]["samples"] == resp.json["samples"]
    zipped = client.get(v["exports"]["folder"], headers=bearer)
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
    assert [x["id"] for x in client.get("/api/versions", headers=bearer).json["versions"]] == [
        "api-1"
    ]
    missing = client.get("/api/versions/nope", headers=bearer)
    assert missing.status_code == 404 and "nope" in missing.json["error"]
    assert client.post("/api/versions", json={"recipe": 3}, headers=bearer).status_code == 400


def test_a_name_in_use_is_a_409_conflict_on_the_form_and_the_api(client: FlaskClient) -> None:
    """Tried: the name of a built version again, on the form and through the API. Before: 400,
    the answer of a bad recipe, though nothing is wrong with the recipe. Kept: 409 Conflict
    naming the version, the form with the recipe as typed, the first version as it was."""
    auth = AuthActions(client)
    auth.login()
    form = {"recipe": "seed: 4\n", "name": "taken-1", "csrf_token": auth.token}
    assert client.post("/versions/new", data=form).status_code == 302
    client.application.extensions["facetrove.job_registry"].wait(120)
    again = client.post("/versions/new", data={**form, "recipe": "seed: 5\n"})
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "version &#39;taken-1&#39; already exists" in page and "seed: 5" in page
    api = client.post(
        "/api/versions", json={"recipe": "seed: 5\n", "name": "taken-1"}, headers=auth.headers()
    )
    assert api.status_code == 409, api.json
    assert "'taken-1' already exists" in api.json["error"] and "another name" in api.json["error"]
    versions = client.get("/api/versions").json["versions"]
    assert [(v["id"], v["status"]) for v in versions] == [("taken-1", "ready")]


def test_split_by_subject_on_the_form(client: FlaskClient) -> None:
    """Without subjects: the form shows why, with the text kept. With them (here set on the
    factory's samples, one person per few tracks): the page names who is in which split."""
    auth = AuthActions(client)
    auth.login()
    assert "subject (each person in one split" in client.get("/versions/new").get_data(as_text=True)
    recipe = "split: {train: 0.6, valid: 0.2, test: 0.2, group_by: subject}\n"
    form = {"recipe": recipe, "name": "people", "csrf_token": auth.token}
    resp = client.post("/versions/new", data=form)
    assert resp.status_code == 400
    assert "none of the 30 samples has a subject" in resp.get_data(as_text=True)
    db = client.application.config["FACETROVE"].data_dir / "facetrove.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE samples SET subject = 'person-' || (track_id % 5)")
    assert client.post("/versions/new", data=form).status_code == 302
    client.application.extensions["facetrove.job_registry"].wait(120)
    show = client.get("/versions/people").get_data(as_text=True)
    assert "subjects (people): 5; in several splits: <strong>0</strong>" in show, show
    assert "<li>test (" in show and "person-" in show
