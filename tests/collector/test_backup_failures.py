"""`facetrove collector backup` when it cannot succeed: one line, exit 1, nothing half-made.

Tried, on a real store of 200 samples: DEST is an existing file; DEST on a read-only file
system; DEST on a file system too small for the copy (a 1 MiB tmpfs); a source database damaged
in the middle. The file-system cases run the command in its own mount namespace (``unshare``).
Kept: exit code 1 (2 for a DEST that is a file: a usage error), exactly one ``Error:`` line
on stderr naming the problem, no traceback, no partial copy left behind (the folder the command
created is removed), the source untouched.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.collector.ingest_helpers import FACETROVE
from tests.collector.test_damaged_store import damage, make_store
from tests.support.data import require


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    return errors[0]


def backup(data: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FACETROVE, "collector", "backup", "--data-dir", str(data), str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def backup_on_tmpfs(data: Path, mount: Path, options: str) -> tuple[str, str, list[str]]:
    """Run the backup into ``mount``/copy with a tmpfs (``options``) mounted there in a private
    namespace. Returns (stdout, stderr, what is left in ``mount`` afterwards)."""
    if shutil.which("unshare") is None:
        require("unshare", "needed to mount a small file system for the test")
    mount.mkdir(parents=True, exist_ok=True)
    cmd = " ".join(
        shlex.quote(a) for a in [FACETROVE, "collector", "backup", "--data-dir", str(data)]
    )
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {mount} || exit 99\n"
        f"mount -o remount,{options} {mount} || exit 99\n"
        f"{cmd} {mount}/copy; echo rc=$? >&2; ls -A {mount}"
    )
    res = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    if res.returncode == 99:
        require("tmpfs in a user namespace", res.stderr.strip())
    return res.stdout, res.stderr, res.stdout.split()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("backup-failures") / "data"
    make_store(data, n=200)
    return data


def test_dest_is_a_file(store: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy"
    dest.write_text("I am a file")
    res = backup(store, dest)
    assert res.returncode == 2 and "Traceback" not in res.stderr  # click's usage error
    [line] = [x for x in res.stderr.splitlines() if x.startswith("Error:")]
    assert str(dest) in line and "is a file" in line
    assert dest.read_text() == "I am a file"


def test_dest_on_a_read_only_file_system(store: Path, tmp_path: Path) -> None:
    before = digest(store / "facetrove.db")
    out, err, left = backup_on_tmpfs(store, tmp_path / "ro", "ro")
    line = one_error(subprocess.CompletedProcess([], 1, out, err.replace("rc=1\n", "")))
    assert "rc=1" in err and "read-only" in line.lower()
    assert left == []
    assert digest(store / "facetrove.db") == before


def test_dest_too_small(store: Path, tmp_path: Path) -> None:
    before = digest(store / "facetrove.db")
    out, err, left = backup_on_tmpfs(store, tmp_path / "small", "rw")
    line = one_error(subprocess.CompletedProcess([], 1, out, err.replace("rc=1\n", "")))
    assert "rc=1" in err and "no space left" in line.lower(), line
    assert "partial copy" in line and "removed" in line
    assert left == [], f"a partial copy was left behind: {left}"
    assert digest(store / "facetrove.db") == before


def test_damaged_source(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = make_store(data, n=200)
    damage(db, "pages")
    before = digest(db)
    dest = tmp_path / "copy"
    line = one_error(backup(data, dest))
    assert "damaged" in line and str(db) in line
    assert not dest.exists(), "a damaged copy was left as if it were a backup"
    assert digest(db) == before
