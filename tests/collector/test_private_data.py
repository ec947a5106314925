"""The data folder is private to the service user: a real `collector serve` fixes an existing
store made with a loose umask (0644 files, 0755 folders) and writes new files privately."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from facetrove.collector.store.private import make_private
from tests.collector.serve_helpers import start_serve, stop_serve

pytestmark = pytest.mark.slow


def _loose(root: Path) -> list[str]:
    """Entries under ``root`` that group or others may read, write or enter."""
    found = []
    for folder, _, files in os.walk(root):
        for path in [Path(folder), *(Path(folder) / n for n in files)]:
            if stat.S_IMODE(path.lstat().st_mode) & 0o077 and not path.is_symlink():
                found.append(f"{oct(stat.S_IMODE(path.stat().st_mode))} {path}")
    return found


def test_serve_makes_an_existing_data_folder_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    blobs = data / "blobs" / "ab"
    old = os.umask(0o022)
    try:
        blobs.mkdir(parents=True)
        (blobs / "ab12.jpg").write_bytes(b"\xff\xd8\xff face")
        (data / "facetrove.db").touch()
        os.chmod(data, 0o755)
    finally:
        os.umask(old)
    assert _loose(data)
    serve = start_serve(tmp_path, devices=("cam-private",))
    try:
        assert _loose(data) == []
        # the store and the broker's files created by this run are private too
        assert stat.S_IMODE((data / "facetrove.db").stat().st_mode) == 0o600
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
    finally:
        stop_serve(serve)
    assert _loose(data) == []


def test_make_private_leaves_links_and_private_files_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    outside.chmod(0o644)
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    (root / "link").symlink_to(outside)
    (root / "mine").write_text("y")
    (root / "mine").chmod(0o600)
    assert make_private(root) == 0
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
