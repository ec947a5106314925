"""The agent's outbox on a real small file system (a tmpfs of 2 MB in the test's own mount
namespace): it fills with samples, then keeps taking new ones by evicting the least valuable
(heartbeats before uncertain pre-labels, oldest first), counts them, and never raises; with no
free-space margin the write itself hits ENOSPC (SQLITE_FULL): no exception, every drop counted
(new samples are then mostly the ones dropped: the WAL cannot be checkpointed on a full disk)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.collector.test_disk_full import _can_mount_tmpfs
from tests.support.data import require

SCRIPT = r"""
import json, os, sys
from facetrove.agent.delivery.outbox import Outbox
where, margin = sys.argv[1], int(sys.argv[2])
box = Outbox(os.path.join(where, "outbox.db"), max_bytes=1 << 30, min_free_bytes=margin)
errors, dropped = [], []
for i in range(240):
    selection = "uncertain" if i % 4 == 0 else "heartbeat"
    try:
        dropped += box.put(f"s{i:04d}-{selection}", os.urandom(20_000), selection=selection)
    except Exception as exc:  # the test reports any exception: there must be none
        errors.append(f"{type(exc).__name__}: {exc}")
kept = box.ids()
print(json.dumps({"errors": errors, "dropped": dropped, "kept": kept,
                  "counters": box.counters(), "drops": box.drops(),
                  "free": os.statvfs(where).f_bavail * os.statvfs(where).f_frsize}))
box.close()
"""


def run_on_tmpfs(tmp_path: Path, margin: int) -> dict[str, Any]:
    where = tmp_path / f"outbox-{margin}"
    where.mkdir()
    script = f'mount -t tmpfs -o size=2m tmpfs {where} && exec "$@"'
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", sys.executable, "-c", SCRIPT, str(where),
         str(margin)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout))


@pytest.mark.parametrize("margin", [256 * 1024, 0], ids=["free-space-margin", "disk-full"])
def test_nearly_full_disk_evicts_least_valuable_first(tmp_path: Path, margin: int) -> None:
    if not _can_mount_tmpfs(tmp_path / "probe"):
        require("unshare + tmpfs", "cannot mount a tmpfs in a private namespace here")
    got = run_on_tmpfs(tmp_path, margin)
    assert got["errors"] == []
    kept, dropped = got["kept"], got["dropped"]
    assert len(kept) + len(dropped) == 240 and len(kept) < 100  # 4.8 MB do not fit in 2 MB
    assert got["counters"]["dropped_disk"] == len(dropped) == got["drops"]["outbox_disk"]
    if not margin:
        return  # a disk that is simply full: no crash, every drop counted (what we can promise)
    # Uncertain samples (1 in 4) outlive heartbeats: every uncertain one is still there
    # unless no heartbeat is left to evict.
    uncertain = [k for k in kept if k.endswith("uncertain")]
    heartbeats = [k for k in kept if k.endswith("heartbeat")]
    assert len(uncertain) == 60 or not heartbeats, (len(uncertain), len(heartbeats))
    # Among heartbeats the oldest went first: the ones kept are the newest.
    if heartbeats:
        assert max(d for d in dropped if d.endswith("heartbeat")) < min(heartbeats)
    assert got["free"] >= margin // 4, got["free"]  # the disk never filled
