"""`collector prune` as an outside audit tried it (issue 14): a review or a version build between
the selection and the delete, a store on a nearly full disk (a real tmpfs of its own), and limits
so large that their date is out of range. Real store filled by ingest's real Writer, real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store.retention import candidates, prune
from facetrove.collector.store.reviews import DecisionIn, decide
from facetrove.collector.store.users import create_user
from tests.collector.ingest_helpers import FACETROVE
from tests.collector.test_disk_full import _can_mount_tmpfs
from tests.support.data import require

FILL = r"""
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from facetrove.collector.ingest.validate import validate_message
from facetrove.collector.ingest.writer import Writer
from facetrove.collector.store import DB_NAME, BlobStore, connect
from facetrove.wire import Kind, topic
from tests.support.samples import many_samples

data, n = Path(sys.argv[1]), int(sys.argv[2])
db = connect(data / DB_NAME)
writer = Writer(db, BlobStore(data / "blobs"), quarantine_max_rows=10, quarantine_head_bytes=8)
old = (datetime.now(timezone.utc) - timedelta(days=40)).isoformat()
built = many_samples(n, tag="old")
for start in range(0, n, 200):
    part = built[start : start + 200]
    writer.commit([validate_message(topic(s.device_id, Kind.SAMPLE), s.payload, 1 << 22)
                   for s in part], old)
print(" ".join(s.sample_id for s in built))
db.close()
"""


def fill(data: Path, n: int) -> list[str]:
    """``n`` samples received 40 days ago, pending, written as ingest writes them."""
    proc = subprocess.run(
        [sys.executable, "-c", FILL, str(data), str(n)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


def test_a_sample_reviewed_or_put_in_a_version_after_the_selection_stays(tmp_path: Path) -> None:
    """`prune` selects, then deletes: a reviewer confirming a sample or a version build taking it
    in between must keep it (before, both were deleted: confirmed samples and samples of versions
    are never to be)."""
    data = tmp_path / "data"
    ids = fill(data, 3)
    db = connect(data / DB_NAME)
    try:
        doomed = {"pending_age": [str(r["id"]) for r in candidates(db, "pending")]}
        assert sorted(doomed["pending_age"]) == sorted(ids)
        alice = create_user(db, "alice", "correct horse battery", "admin")
        decide(db, alice.id, [DecisionIn(ids[0], "label", "happy")])
        with db.conn:
            db.conn.execute("INSERT INTO versions (id, status) VALUES ('v1', 'building')")
            db.conn.execute(
                "INSERT INTO version_samples VALUES ('v1', ?, 'train', 'sad')", [ids[1]]
            )
        counts, unused = prune(db, doomed)
        left = {str(r[0]) for r in db.conn.execute("SELECT id FROM samples")}
    finally:
        db.close()
    assert counts == {"pending_age": 1} and len(unused) == 1
    assert left == {ids[0], ids[1]}


def test_limits_beyond_the_calendar_are_refused_in_the_config(tmp_path: Path) -> None:
    """`pending_days: 1e9` reached `prune` and ended in an OverflowError traceback."""
    data = tmp_path / "data"
    fill(data, 1)
    config = tmp_path / "c.yaml"
    config.write_text("retention:\n  pending_days: 1000000000\n")
    proc = subprocess.run(
        [FACETROVE, "collector", "prune", "--config", str(config), "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "retention.pending_days" in proc.stderr


PRUNE_ON_TMPFS = r"""
set -e
mount -t tmpfs -o size=$SIZE tmpfs "$DATA"
"$PY" -c "$FILL" "$DATA/store" 800 > /dev/null
eval "$BEFORE"
# Another program takes the rest of the disk but $LEFT KiB.
free=$(df -k --output=avail "$DATA" | tail -1)
dd if=/dev/zero of="$DATA/filler" bs=1K count=$((free - LEFT)) status=none
df -k --output=avail "$DATA" | tail -1 >&2
set +e
"$FACETROVE" collector prune --config "$CONFIG" --data-dir "$DATA/store"
echo "exit $?" >&2
ls "$DATA/store/blobs"/*/ 2>/dev/null | grep -c jpg >&2 || true
"""


def prune_on_tmpfs(
    tmp_path: Path, left_kib: int, size: str = "24m", before: str = ""
) -> subprocess.CompletedProcess[str]:
    if not _can_mount_tmpfs(tmp_path / "probe"):
        require("unshare + tmpfs", "cannot mount a tmpfs in a private namespace here")
    data = tmp_path / "disk"
    data.mkdir()
    config = tmp_path / "c.yaml"
    config.write_text("retention:\n  pending_days: 30\n")
    env = {"DATA": str(data), "PY": sys.executable, "FILL": FILL, "LEFT": str(left_kib),
           "SIZE": size, "BEFORE": before,
           "FACETROVE": FACETROVE, "CONFIG": str(config), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(Path(__file__).parents[2])}  # fmt: skip
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", PRUNE_ON_TMPFS], capture_output=True, text=True,
        timeout=300, env=env,
    )  # fmt: skip


@pytest.mark.slow
def test_prune_works_on_a_nearly_full_disk(tmp_path: Path) -> None:
    """Deleting rows needs room in SQLite's WAL: on a disk with 300 KiB left, one transaction
    for 800 samples failed ('database or disk is full', a traceback, nothing deleted). Deleted
    in small transactions, each followed by its image files, every one frees room for the next."""
    proc = prune_on_tmpfs(tmp_path, 300)
    err = proc.stderr.splitlines()
    assert proc.returncode == 0 and "exit 0" in err, proc.stderr[-3000:]
    assert int(err[0]) <= 300 and err[-1] == "0", err  # nearly full; then no image left
    assert "Traceback" not in proc.stderr
    counts = json.loads(proc.stdout)
    assert counts["pending_age"] == 800 and counts["images"] == 800, counts


@pytest.mark.slow
def test_prune_on_a_disk_with_no_byte_left_says_so(tmp_path: Path) -> None:
    """SQLite cannot even open the store (its -shm file needs a page): one line that says the
    disk is full, at once (before: 'disk I/O error' after 30 s of retries)."""
    proc = prune_on_tmpfs(tmp_path, 0)
    err = proc.stderr.splitlines()
    assert int(err[0]) == 0 and "exit 1" in err and err[-1] == "800", err
    message = [line for line in err if line.startswith("Error:")]
    assert len(message) == 1 and "the disk is full" in message[0], err


@pytest.mark.slow
def test_a_store_opened_once_with_room_keeps_a_reserve_for_prune(tmp_path: Path) -> None:
    """Any command that opens the store while the disk has room (here `collector stats`) leaves
    a reserve file (`data_dir/.reserve`, 8 MiB); on a disk then filled to the last byte, `prune`
    releases it to open the store and delete (before: `disk I/O error`, nothing deleted)."""
    stats = '"$FACETROVE" collector stats --data-dir "$DATA/store" > /dev/null'
    proc = prune_on_tmpfs(tmp_path, 0, size="40m", before=stats)
    err = proc.stderr.splitlines()
    assert int(err[0]) == 0 and "exit 0" in err, proc.stderr[-3000:]
    assert err[-1] == "0" and "Traceback" not in proc.stderr, err
    counts = json.loads(proc.stdout)
    assert counts["pending_age"] == 800 and counts["images"] == 800, counts
    assert "released the 8.0 MB reserve" in proc.stderr, proc.stderr[-3000:]
