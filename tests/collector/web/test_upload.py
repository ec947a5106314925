"""Upload and import: safe unpacking, the agent-missing message, job bookkeeping."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from werkzeug.datastructures import FileStorage

from facetrove.collector.config import CollectorConfig
from facetrove.collector.web import create_app, upload
from tests.collector.web.conftest import AuthActions


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_is_unpacked_with_class_folders_and_nothing_escapes(tmp_path: Path, faces_dir):
    """Tried: '../', absolute paths, a text file, macOS junk. Kept: the two real images only."""
    photo = (faces_dir / "single_face.jpg").read_bytes()
    data = _zip(
        {
            "happy/a.jpg": photo,
            "surprise/b.JPG": photo,
            "../evil.jpg": photo,
            "/etc/evil.jpg": photo,
            "notes.txt": b"hello",
            "__MACOSX/happy/._a.jpg": b"junk",
        }
    )
    dest = tmp_path / "files"
    count, skipped = upload._save_files([FileStorage(io.BytesIO(data), filename="faces.zip")], dest)
    assert count == 2
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.*")) == [
        "happy/a.jpg",
        "surprise/b.JPG",
    ]
    assert not (tmp_path / "evil.jpg").exists()
    assert set(skipped) == {"../evil.jpg", "/etc/evil.jpg", "notes.txt", "__MACOSX/happy/._a.jpg"}


def test_without_the_agent_the_page_says_how_to_install_it(tmp_path: Path, store, faces_dir):
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
    assert "Uploads need the agent" in html and "pip install &#39;facetrove[agent]&#39;" in html
    photo = (faces_dir / "single_face.jpg").read_bytes()
    resp = client.post(
        "/api/uploads",
        data={"files": (io.BytesIO(photo), "face.jpg")},
        headers=auth.headers(),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 503 and "facetrove[agent]" in resp.get_json()["error"]
    assert client.get("/api/uploads").get_json()["agent"]["installed"] is False


def test_upload_refuses_empty_and_non_image_uploads(client, auth):
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
