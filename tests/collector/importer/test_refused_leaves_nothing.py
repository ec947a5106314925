"""A refused `collector import` leaves no store behind that it created, and a store that was
there before as it was."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.cli import cli
from facetrove.collector.store import DB_NAME, connect
from tests.collector.importer.conftest import crop_bytes, write_crops


def _unknown_class(root: Path) -> Path:
    write_crops(root / "set", per_face=1)
    (root / "set" / "happy").rename(root / "set" / "contempt")
    return root / "set"


def _nothing_importable(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "unsafe.zip", "w") as zf:
        zf.writestr("../happy/a.png", crop_bytes())
    return root / "unsafe.zip"


def _all_unreadable(root: Path) -> Path:
    (root / "set" / "happy").mkdir(parents=True)
    (root / "set" / "happy" / "a.png").write_bytes(b"not an image")
    return root / "set"


SOURCES: dict[str, Callable[[Path], Path]] = {
    "unknown class": _unknown_class,
    "nothing importable": _nothing_importable,
    "every file unreadable": _all_unreadable,
}


def _import(source: Path, data: Path) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["collector", "import", str(source), "--data-dir", str(data)])
    return res.exit_code, res.output


@pytest.mark.parametrize("case", SOURCES)
def test_a_refused_import_creates_no_store(tmp_path: Path, case: str) -> None:
    """Tried: each refusal into a data folder (and its parent) that did not exist. Before: exit
    1 with the right message, and an empty facetrove.db left in a new folder, which the next
    `collector serve --data-dir` would take for the store. Kept: no folder at all."""
    source = SOURCES[case](tmp_path / "in")
    code, out = _import(source, tmp_path / "new" / "data")
    assert code == 1 and "Traceback" not in out, out
    assert not (tmp_path / "new").exists(), sorted((tmp_path / "new").rglob("*"))


@pytest.mark.parametrize("case", SOURCES)
def test_a_refused_import_into_an_empty_folder_leaves_it_empty(tmp_path: Path, case: str) -> None:
    source = SOURCES[case](tmp_path / "in")
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    code, _ = _import(source, data)
    assert code == 1 and sorted(p.name for p in data.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("case", SOURCES)
def test_a_refused_import_leaves_an_existing_store_as_it_was(tmp_path: Path, case: str) -> None:
    data = tmp_path / "data"
    n = write_crops(tmp_path / "first", per_face=1)
    assert _import(tmp_path / "first", data)[0] == 0
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    code, _ = _import(SOURCES[case](tmp_path / "in"), data)
    assert code == 1
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    db = connect(data / DB_NAME)
    try:
        assert db.execute("SELECT COUNT(*) FROM samples").fetchone() == (n,)
        assert db.execute("SELECT COUNT(*) FROM classes WHERE name = 'contempt'").fetchone() == (0,)
    finally:
        db.conn.close()
