"""Disk full, then free again, on a real small file system (issue 9).

`facetrove collector ingest` runs in its own mount namespace (``unshare``) with its data folder
on an 8 MiB tmpfs. Tried: the tmpfs filled to the last byte by a filler file while an agent-like
publisher sends 300 real face samples through Mosquitto; then the filler deleted. Kept: while
full, nothing acknowledged that is not stored (the log says DISK FULL), ingest alive; once freed,
all 300 samples stored exactly once, byte-identical, no temporary file left, the database sound.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.collector.ingest_helpers import IngestProcess, Publisher
from tests.support.broker import Mosquitto
from tests.support.data import require
from tests.support.samples import many_samples

pytestmark = pytest.mark.slow
N = 300

# Runs inside ingest's mount namespace: the store's rows, blobs and health as one JSON line.
REPORT = """
import hashlib, json, sys
from pathlib import Path
from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store.integrity import problems
data = Path(sys.argv[1])
db = connect(data / DB_NAME, migrate_schema=False)
rows = db.conn.execute("SELECT id, crop_sha256, duplicate_of FROM samples").fetchall()
bad = problems(db)
db.close()
blobs = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.glob("blobs/*/*.jpg")}
temps = [p.name for p in data.glob("blobs/*/.tmp-*")]
print(json.dumps({"rows": rows, "blobs": blobs, "temps": temps, "problems": bad}))
"""


def _can_mount_tmpfs(where: Path) -> bool:
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {where}"],
        capture_output=True,
        timeout=10,
    )
    return probe.returncode == 0


def inside(pid: int, *cmd: str) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in the user and mount namespace of process ``pid``."""
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-U", "-m", "--preserve-credentials", *cmd],
        capture_output=True,
        text=True,
        timeout=60,
    )


def report(pid: int, data: Path) -> dict[str, Any]:
    res = inside(pid, sys.executable, "-c", REPORT, str(data))
    assert res.returncode == 0, res.stderr[-2000:]
    return dict(json.loads(res.stdout))


def test_disk_full_then_free_on_a_real_tmpfs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    if not _can_mount_tmpfs(tmp_path / "probe"):
        require("unshare + nsenter + tmpfs", "cannot mount a tmpfs in a private namespace here")
    config = tmp_path / "c.yaml"
    config.write_text("ingest:\n  backoff_max_s: 1\n  batch_max: 64\n")
    broker = Mosquitto(tmp_path / "mq").start()
    ingest = IngestProcess(data, broker.url, "--config", str(config))
    data.mkdir()
    script = f'mount -t tmpfs -o size=8m tmpfs {data} && exec "$@"'
    ingest.args = ["unshare", "-rm", "sh", "-c", script, "sh", *ingest.args]
    samples = many_samples(N, tag="enospc")
    by_id = {s.sample_id: s for s in samples}
    pub = None
    try:
        ingest.start()
        assert ingest.proc is not None
        pid = ingest.proc.pid

        def stored() -> int:
            return len(report(pid, data)["rows"])

        assert not list(data.iterdir()), "the store must live on the private tmpfs only"
        pub = Publisher(broker.port)
        for s in samples[:50]:
            pub.publish(s.device_id, s.payload)
        deadline = time.monotonic() + 30
        while stored() < 50:
            assert time.monotonic() < deadline, "first 50 not stored"
            time.sleep(0.2)
        full = inside(pid, "sh", "-c", f"cat /dev/zero > {data}/filler")
        assert "No space left" in full.stderr, full.stderr
        for s in samples[50:]:
            pub.publish(s.device_id, s.payload)
        deadline = time.monotonic() + 30
        while "DISK FULL" not in ingest.log.read_text():
            assert time.monotonic() < deadline, ingest.log.read_text()[-2000:]
            time.sleep(0.1)
        time.sleep(2)  # a few retries while full
        while_full = stored()
        assert while_full < N, "the file system was not full"
        assert ingest.alive()
        assert inside(pid, "rm", f"{data}/filler").returncode == 0
        deadline = time.monotonic() + 60
        while stored() < N:
            assert time.monotonic() < deadline, f"{stored()} of {N} after freeing space"
            time.sleep(0.2)
        pub.wait_acked(N, timeout=30)
        time.sleep(0.5)
        assert ingest.alive()
        final = report(pid, data)
    finally:
        if pub:
            pub.close()
        code = ingest.stop()
        broker.stop()
    assert code == 0
    assert {r[0] for r in final["rows"]} == set(by_id) and len(final["rows"]) == N
    for sample_id, crop_sha, duplicate_of in final["rows"]:
        assert crop_sha == by_id[sample_id].crop_sha256 and duplicate_of is None
    assert final["blobs"] == {s.crop_sha256: s.crop_sha256 for s in samples}, "blob bytes"
    assert final["temps"] == [] and final["problems"] == []
    log = ingest.log.read_text()
    assert "Traceback" not in log
    print(f"stored while full: {while_full} of {N}; DISK FULL log lines: {log.count('DISK FULL')}")
