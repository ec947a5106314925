"""The upload page in real headless Chromium against the app served by waitress."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.collector.importer.test_held_back import same_frame_twice
from tests.collector.web.test_browser import login, page, serving, shot

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
