"""The agent's outbox when ANOTHER program fills its disk to the last byte (a log, a download):
the outbox's own margin (``min_free_mb``) cannot help then, and SQLite needs room in its WAL
even to delete a row or to open the file. Found by the issue-14 audit on a real tmpfs:

- the agent could not start (``cannot open the outbox: disk I/O error``, exit 1; the service
  gives up after five restarts) and its samples stayed undelivered;
- a put that had to expire old samples raised, which ended the run (exit 1);
- eviction could not commit, so every new sample was dropped, the most valuable too, while
  the old heartbeats stayed; receipts could not delete confirmed samples.

A reserve file beside the outbox (``outbox.db.reserve``) is released for these writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.collector.ingest_helpers import FACETROVE
from tests.collector.test_disk_full import _can_mount_tmpfs
from tests.support.data import face_file, require
from tests.support.samples import PHOTOS

FILL_THE_DISK = r"""
import os, sys
f = open(os.path.join(sys.argv[1], "filler"), "wb", buffering=0)
try:
    while True:
        f.write(b"\0" * 4096)
except OSError:
    pass
"""

IN_PROCESS = r"""
import json, os, sys, time
from facetrove.agent.delivery.outbox import Outbox
where = sys.argv[1]
box = Outbox(os.path.join(where, "outbox.db"), max_bytes=1 << 30, min_free_bytes=256 * 1024)
for i in range(50):
    box.put(f"a{i:04d}", os.urandom(20_000), selection="heartbeat")
exec(open(sys.argv[2]).read())  # another program takes every byte left
free_after_fill = os.statvfs(where).f_bavail
errors, dropped = [], []
def attempt(what, fn):
    try:
        return fn()
    except Exception as exc:
        errors.append(f"{what}: {type(exc).__name__}: {exc}")
for i in range(20):
    dropped += attempt("put", lambda: box.put(f"b{i:04d}", os.urandom(20_000),
                                              selection="uncertain")) or []
confirmed = attempt("confirm", lambda: box.confirm([f"a{i:04d}" for i in range(10, 20)]))
expired = attempt("expire", lambda: box.expire(time.time() + 10 * 24 * 3600))
print(json.dumps({"free_after_fill": free_after_fill, "errors": errors, "dropped": dropped,
                  "confirmed": confirmed, "expired": expired, "counters": box.counters()}))
box.close()
"""


def in_tmpfs(tmp_path: Path, script: str, size: str = "4m") -> subprocess.CompletedProcess[str]:
    """Run the shell ``script`` in a mount namespace of its own with $DISK a fresh tmpfs."""
    if not _can_mount_tmpfs(tmp_path / "probe"):
        require("unshare + tmpfs", "cannot mount a tmpfs in a private namespace here")
    disk = tmp_path / "disk"
    disk.mkdir()
    fill = tmp_path / "fill.py"
    fill.write_text(FILL_THE_DISK)
    env = {"DISK": str(disk), "PY": sys.executable, "FILL": str(fill), "FACETROVE": FACETROVE,
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[3])}  # fmt: skip
    full = f'set -e\nmount -t tmpfs -o size={size} tmpfs "$DISK"\n{script}'
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", full], capture_output=True, text=True, timeout=300,
        env=env,
    )  # fmt: skip


def test_a_disk_filled_by_another_program_still_evicts_the_least_valuable(
    tmp_path: Path,
) -> None:
    script = tmp_path / "in_process.py"
    script.write_text(IN_PROCESS)
    proc = in_tmpfs(tmp_path, f'"$PY" {script} "$DISK" "$FILL"')
    assert proc.returncode == 0, proc.stderr[-3000:]
    got: dict[str, Any] = json.loads(proc.stdout)
    assert got["free_after_fill"] == 0
    assert got["errors"] == []
    # The new, uncertain samples are kept: heartbeats made room for them.
    assert not [d for d in got["dropped"] if d.startswith("b")], got["dropped"]
    assert got["dropped"] and all(d.startswith("a") for d in got["dropped"])
    assert got["counters"]["dropped_disk"] == len(got["dropped"])
    assert got["confirmed"] is not None and got["expired"] is not None


AGENT_RUN = r"""
"$PY" -c '
import os, sys, time
from facetrove.agent.delivery.outbox import Outbox
box = Outbox(os.path.join(sys.argv[1], "outbox.db"), min_free_bytes=256 * 1024)
old = time.time() - 30 * 24 * 3600  # past max_age_s (7 days): expired at the next put
for i in range(40):
    box.put(f"old{i:04d}", os.urandom(20_000), created=old + i, selection="heartbeat")
box.close()
' "$DISK"
"$PY" "$FILL" "$DISK"
df -k --output=avail "$DISK" | tail -1 >&2
set +e
"$FACETROVE" agent run --source "$PHOTOS" --device-id cam-full --broker mqtt://127.0.0.1:9 \
    --outbox "$DISK/outbox.db" --set outbox.min_free_mb=0.25 --set broker.connect_timeout_s=1 \
    --set model_updates.enabled=false --summary-json
echo "exit $?" >&2
"""


@pytest.mark.slow
def test_the_agent_starts_and_runs_on_a_disk_with_no_byte_left(tmp_path: Path) -> None:
    """A real agent on face photos, its outbox holding 40 expired samples, on a disk another
    program filled: it opens the outbox, expires the old samples, keeps the new ones and ends
    as any run without a broker does (exit 3, samples kept)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS:
        (photos / name).write_bytes(face_file(name).read_bytes())
    proc = in_tmpfs(tmp_path, f'export PHOTOS="{photos}"\n' + AGENT_RUN, size="3m")
    err = proc.stderr.splitlines()
    assert int(err[0]) == 0, err[:5]  # the disk was full when the agent started
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert "exit 3" in err and summary["exit_code"] == 3, (summary, proc.stderr[-3000:])
    assert summary["outbox_dropped"]["outbox_age"] == 40, summary
    assert summary["samples_accepted"] >= 3 and summary["outbox_depth"] >= 3, summary
    assert not [line for line in err if "Traceback" in line]
