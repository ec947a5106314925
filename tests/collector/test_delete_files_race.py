"""Image files and concurrent ingest (issue-14 audit): `prune` (and `forget`) deleted the files
no sample used at the moment of their transaction, while ingest, which writes an image only if
its file is missing, was storing new samples with byte-identical crops (a re-sent sample, a
static scene): 744 of 3,000 new samples pointed at a deleted file. Real Mosquitto, real
`collector ingest`, real `collector prune` at the same time."""

from __future__ import annotations

import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from facetrove.collector.ingest.validate import validate_message
from facetrove.collector.ingest.writer import Writer
from facetrove.collector.store import DB_NAME, BlobStore, connect
from facetrove.wire import Kind, topic
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, Publisher, wait_rows
from tests.support.broker import Mosquitto
from tests.support.samples import base_crops, build_sample, with_comment

pytestmark = pytest.mark.slow
N = 3000


def test_prune_never_deletes_a_file_that_a_sample_stored_meanwhile_uses(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bases = base_crops()
    crops = [with_comment(bases[i % len(bases)], f"race-{i}") for i in range(N)]
    db = connect(data / DB_NAME)
    writer = Writer(db, BlobStore(data / "blobs"), quarantine_max_rows=10, quarantine_head_bytes=8)
    old = (datetime.now(timezone.utc) - timedelta(days=40)).isoformat()
    first = [build_sample(c, "cam-old") for c in crops]
    for start in range(0, N, 500):
        writer.commit(
            [validate_message(topic("cam-old", Kind.SAMPLE), s.payload, 1 << 22)
             for s in first[start : start + 500]],
            old,
        )  # fmt: skip
    db.close()
    config = tmp_path / "c.yaml"
    config.write_text("retention:\n  pending_days: 30\n")
    broker = Mosquitto(tmp_path / "mq").start()
    ingest = IngestProcess(data, broker.url)
    pub = None
    try:
        ingest.start()
        pub = Publisher(broker.port)
        again = [build_sample(c, "cam-new") for c in crops]  # the same crops, new samples
        sender = threading.Thread(target=lambda: [pub.publish("cam-new", s.payload) for s in again])
        sender.start()
        wait_rows(data, N + N // 20, timeout=60)  # ingest is storing them while prune runs
        pruned = subprocess.run(
            [FACETROVE, "collector", "prune", "--data-dir", str(data), "--config", str(config)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        sender.join()
        pub.wait_acked(N, timeout=120)
        wait_rows(data, N, timeout=120)
    finally:
        if pub is not None:
            pub.close()
        ingest.stop()
        broker.stop()
    assert pruned.returncode == 0, pruned.stderr[-2000:]
    db = connect(data / DB_NAME)
    try:
        rows = db.conn.execute("SELECT device_id, crop_sha256 FROM samples").fetchall()
    finally:
        db.close()
    blobs = BlobStore(data / "blobs")
    assert {str(r[0]) for r in rows} == {"cam-new"} and len(rows) == N
    missing = [r for r in rows if not blobs.path(str(r[1])).exists()]
    assert missing == [], f"{len(missing)} of {N} stored samples point at a deleted image file"
