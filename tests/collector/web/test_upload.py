"""Upload and import through the web app: the same import as `collector import`, run as a
subprocess; hostile zips, the agent-missing message, job bookkeeping."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from facetrove.collector.config import CollectorConfig
from facetrove.collector.web import create_app, upload
from tests.collector.importer.conftest import crop_bytes, write_crops, write_people
from tests.collector.web.conftest import AuthActions


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _wait(app) -> dict:  # type: ignore[no-untyped-def]
    with app.app_context():
        registry = upload.jobs()
    registry.wait(120)
    return registry.all()[0].to_json()


def test_a_zip_of_crops_is_imported_and_nothing_escapes(app, client, auth, store, tmp_path):
    """Tried: '../', absolute paths, a text file, macOS junk, a hidden folder, beside real
    48 px crops in class folders. Kept: the crops, confirmed, tagged, by the uploading user."""
    face = crop_bytes()
    other = crop_bytes(size=56)
    data = _zip(
        {
            "happy/a.png": face,
            "surprise/b.PNG": other,
            "../evil.png": face,
            "/etc/evil.png": face,
            "notes.txt": b"hello",
            "__MACOSX/happy/._a.png": b"junk",
            ".hidden/x.png": face,
        }
    )
    auth.login()
    resp = client.post(
        "/api/uploads",
        data={"files": (io.BytesIO(data), "faces.zip"), "tag": "web test", "as": "confirmed"},
        headers=auth.headers(),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202, resp.get_json()
    job = _wait(app)
    assert job["status"] == "done", job
    assert job["outcomes"]["imported"] == 2 and job["imported"] == 2
    reasons = job["summary"]["reasons"]
    assert reasons == {"unsafe-name": 2, "hidden": 2, "not-an-image": 1}, reasons
    rows = store.execute("select label, state, tag, selection from samples order by label")
    assert rows.fetchall() == [
        ("happy", "confirmed", "web test", "import"),
        ("surprise", "confirmed", "web test", "import"),
    ]
    alice = store.execute("select id from users where username = 'alice'").fetchone()[0]
    assert {r[0] for r in store.execute("select user_id from decisions")} == {alice}
    assert not (tmp_path / "evil.png").exists() and not Path("/etc/evil.png").exists()
    uploads = Path(app.config["FACETROVE"].data_dir) / "uploads"
    assert not any(uploads.rglob("*.*")), "the uploaded zip is removed once imported"


def test_without_the_agent_crops_import_and_photos_say_why(tmp_path: Path, store, faces_dir):
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "web": {"secret_key": "k" * 40, "agent_command": ["/nonexistent/facetrove", "agent"]},
        }
    )
    app = create_app(config, {"TESTING": True})
    client = app.test_client()
    auth = AuthActions(client)
    auth.login()
    html = client.get("/upload/").get_data(as_text=True)
    assert "Photos need the agent" in html and "pip install &#39;facetrove[agent]&#39;" in html
    assert client.get("/api/uploads").get_json()["agent"]["installed"] is False
    folder = tmp_path / "set"
    write_crops(folder, per_face=1)
    photo = (faces_dir / "multi_face.jpg").read_bytes()  # 1000x667: a photo, not a crop
    files = [
        (p.open("rb"), p.relative_to(folder).as_posix()) for p in sorted(folder.rglob("*.png"))
    ]
    resp = client.post(
        "/api/uploads",
        data={"files": [*files, (io.BytesIO(photo), "neutral/group.jpg")], "as": "pending"},
        headers=auth.headers(),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202, resp.get_json()
    job = _wait(app)
    assert job["status"] == "done" and job["imported"] == len(files)
    assert job["summary"]["reasons"] == {"detection-failed": 1}
    assert "cannot run the agent" in job["summary"]["examples"]["detection-failed"][0]
    states = store.execute("select state, count(*) from samples group by state").fetchall()
    assert states == [("pending", len(files))]


def test_upload_refuses_empty_mixed_and_non_image_uploads(client, auth):
    auth.login()
    h = auth.headers()
    assert client.post("/api/uploads", headers=h).status_code == 400
    resp = client.post(
        "/api/uploads",
        data={"files": (io.BytesIO(b"hello"), "notes.txt")},
        headers=h,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400 and "no images found" in resp.get_json()["error"]
    bad_zip = {"files": (io.BytesIO(b"PK not a zip"), "x.zip")}
    resp = client.post("/api/uploads", data=bad_zip, headers=h, content_type="multipart/form-data")
    assert resp.status_code == 400 and "not a readable zip" in resp.get_json()["error"]
    mixed = {"files": [(io.BytesIO(_zip({"a.png": b"x"})), "a.zip"), (io.BytesIO(b"x"), "b.png")]}
    resp = client.post("/api/uploads", data=mixed, headers=h, content_type="multipart/form-data")
    assert resp.status_code == 400 and "one zip on its own" in resp.get_json()["error"]
    bad_as = {"files": (io.BytesIO(crop_bytes()), "a.png"), "as": "maybe"}
    resp = client.post("/api/uploads", data=bad_as, headers=h, content_type="multipart/form-data")
    assert resp.status_code == 400 and "'as' must be one of" in resp.get_json()["error"]
    assert client.get("/api/uploads/nope").status_code == 404


def test_folder_import_is_admin_only_and_checks_the_path(client, auth):
    auth.login("bob")
    assert (
        client.post("/upload/folder", data={"csrf_token": auth.token, "path": "/"}).status_code
        == 403
    )
    auth.logout()
    auth.login("alice")
    client.post("/upload/folder", data={"csrf_token": auth.token, "path": "relative/path"})
    assert "is not an absolute path" in client.get("/upload/").get_data(as_text=True)


def test_folder_import_says_what_is_wrong_with_the_path(client, auth, tmp_path):
    """Tried: an absolute path that does not exist, and a file. The message says which."""
    auth.login("alice")
    client.post("/upload/folder", data={"csrf_token": auth.token, "path": "/does/not/exist"})
    page = client.get("/upload/").get_data(as_text=True)
    assert "/does/not/exist does not exist on the server" in page
    afile = tmp_path / "a.jpg"
    afile.write_bytes(b"x")
    client.post("/upload/folder", data={"csrf_token": auth.token, "path": str(afile)})
    assert "is a file, not a folder" in client.get("/upload/").get_data(as_text=True)


def _zip_folder(folder: Path) -> bytes:
    return _zip({p.name: p.read_bytes() for p in sorted(folder.iterdir())})


def test_faces_an_earlier_sample_has_are_reported_as_held_back(app, client, auth, store, tmp_path):
    """Tried: an annotated frame uploaded, then the same frame in a file of other bytes (the
    same pixels: its cut crop is byte-identical to the first sample's). Before: the second job
    said "1 imported", though the sample was kept as a copy and never queued. Kept: 0 imported,
    1 held back with the reason and the file, in GET /api/uploads and on the upload page."""
    from tests.collector.importer.test_held_back import same_frame_twice

    same_frame_twice(tmp_path / "one", ("a.png",))
    same_frame_twice(tmp_path / "two", ("b.png",), first_level=9)
    auth.login()
    for folder in ("one", "two"):
        resp = client.post(
            "/api/uploads",
            data={
                "files": (io.BytesIO(_zip_folder(tmp_path / folder)), f"{folder}.zip"),
                "as": "pending",
            },
            headers=auth.headers(),
            content_type="multipart/form-data",
        )
        assert resp.status_code == 202, resp.get_json()
        _wait(app)
    second, first = client.get("/api/uploads").get_json()["jobs"]
    assert first["imported"] == 1 and first["held_back"] == 0
    assert second["status"] == "done" and second["imported"] == 0, second
    assert second["held_back"] == 1 and second["outcomes"]["held-back"] == 1
    assert "byte-identical" in second["summary"]["held_back"]["reason"]
    assert "1 held back" in second["detail"] and "b.png (copy of " in second["detail"]
    page = client.get("/upload/").get_data(as_text=True)
    assert "b.png (copy of " in page
    queued = client.get("/api/samples?device=import").get_json()["samples"]
    assert len(queued) == 1 and store.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 2


def test_an_upload_of_nothing_but_unreadable_files_fails_with_the_reasons(app, client, auth, store):
    """Tried: three "images" that no decoder reads (random bytes, a text file and a truncated
    PNG, each named .png). Before: the job ended "done" with 0 imported. Kept: "failed", an
    error that says nothing was imported and why, the summary with every skip reason and file
    still in GET /api/uploads, no sample, the uploaded files removed."""
    face = crop_bytes()
    files = [
        (io.BytesIO(bytes(range(256)) * 4), "happy/noise.png"),
        (io.BytesIO(b"just some notes"), "happy/notes.png"),
        (io.BytesIO(face[: len(face) // 3]), "sad/cut.png"),
    ]
    auth.login()
    resp = client.post(
        "/api/uploads", data={"files": files}, headers=auth.headers(),
        content_type="multipart/form-data",
    )  # fmt: skip
    assert resp.status_code == 202, resp.get_json()
    job = _wait(app)
    assert job["status"] == "failed" and job["returncode"] == 1, job
    assert "nothing imported" in job["error"] and "3 files" in job["error"], job["error"]
    assert "2 not-an-image" in job["error"] and "1 broken-image" in job["error"]
    assert job["summary"]["reasons"] == {"not-an-image": 2, "broken-image": 1}
    assert "happy/noise.png" in " ".join(job["summary"]["examples"]["not-an-image"])
    assert job["detail"] == job["error"]
    assert store.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0
    uploads = Path(app.config["FACETROVE"].data_dir) / "uploads"
    assert not any(uploads.rglob("*.*"))
    assert "nothing imported" in client.get("/upload/").get_data(as_text=True)


def test_a_zip_upload_records_the_subjects_and_a_bad_rule_is_refused_at_once(
    app, client, auth, store, tmp_path
):
    """Real faces as several people, one zip; the page's Subject from goes to --subject-from."""
    counts = write_people(tmp_path / "posed", per_face=2)
    data = _zip({p.relative_to(tmp_path).as_posix(): p.read_bytes()
                 for p in sorted((tmp_path / "posed").rglob("*.png"))})  # fmt: skip
    auth.login()

    def post(rule: str):  # type: ignore[no-untyped-def]
        return client.post(
            "/api/uploads",
            data={"files": (io.BytesIO(data), "posed.zip"), "subject_from": rule},
            headers=auth.headers(),
            content_type="multipart/form-data",
        )

    bad = post("regex:^[a-z]+")
    assert bad.status_code == 400 and "the pattern has no group" in bad.get_json()["error"]
    assert not any((Path(app.config["FACETROVE"].data_dir) / "uploads").rglob("*.*"))
    resp = post(r"regex:^(p[0-9]+)[.]")
    assert resp.status_code == 202, resp.get_json()
    job = _wait(app)
    assert job["status"] == "done" and job["summary"]["subjects"] == counts, job
    rows = store.execute("select subject, count(*) from samples group by subject").fetchall()
    assert dict(rows) == counts
