"""`collector prune` on a store filled through a real Mosquitto and a real `collector ingest`:
rejected and unreviewed samples past their age and their space limit go (oldest first) with their
image files; confirmed ones and everything within the limits stay; counters and audit say so."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store.blobs import BlobStore
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, Publisher, wait_rows
from tests.support.broker import Mosquitto
from tests.support.samples import base_crops, build_sample, with_comment

pytestmark = pytest.mark.slow


def prune(data: Path, config: Path, *args: str) -> dict[str, int]:
    proc = subprocess.run(
        [FACETROVE, "collector", "prune", "--data-dir", str(data), "--config", str(config), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_prune_by_age_and_size(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    ingest = IngestProcess(data, broker.url)
    crops = base_crops()
    built = [build_sample(with_comment(crops[i % 3], f"r{i}"), "cam-a") for i in range(8)]
    pub = None
    try:
        ingest.start()
        pub = Publisher(broker.port)
        for b in built:
            pub.publish("cam-a", b.payload)
        wait_rows(data, 8, timeout=30)
    finally:
        if pub is not None:
            pub.close()
        ingest.stop()
        broker.stop()
    ids = [b.sample_id for b in built]
    now = datetime.now(timezone.utc)
    old, new = now - timedelta(days=40), now
    # (state, received_at) per sample: the review state is set as a decision would leave it.
    plan = [("rejected", old), ("rejected", old), ("rejected", new), ("pending", old),
            ("pending", old), ("pending", new), ("pending", new), ("confirmed", old)]  # fmt: skip
    db = connect(data / DB_NAME)
    with db.conn:
        for sid, (state, at) in zip(ids, plan, strict=True):
            db.conn.execute(
                "UPDATE samples SET state = ?, received_at = ? WHERE id = ?",
                (state, (at + timedelta(seconds=ids.index(sid))).isoformat(), sid),
            )  # a second apart: received in the order s0 < s1 < ...
    crop = {sid: str(r[0]) for sid in ids for r in db.conn.execute(
        "SELECT crop_sha256 FROM samples WHERE id = ?", (sid,))}  # fmt: skip
    db.close()
    blobs = BlobStore(data / "blobs")
    one = blobs.path(crop[ids[6]]).stat().st_size
    config = tmp_path / "c.yaml"
    config.write_text(
        "retention:\n  rejected_days: 30\n  pending_days: 30\n"
        f"  pending_max_mb: {(one + 10) / 1024 / 1024}\n"
    )
    expected = {"rejected_age": 2, "rejected_size": 0, "pending_age": 2, "pending_size": 1}
    dry = prune(data, config, "--dry-run")
    assert dry == expected | {"dry_run": True}
    assert all(blobs.path(crop[s]).exists() for s in ids)

    done = prune(data, config)
    assert done == expected | {"images": 5}
    db = connect(data / DB_NAME)
    left = {str(r[0]) for r in db.conn.execute("SELECT id FROM samples")}
    counters = dict(
        db.conn.execute("SELECT name, value FROM counters WHERE name LIKE 'retention.%'")
    )
    audit = db.conn.execute("SELECT detail FROM audit WHERE action = 'retention.prune'").fetchall()
    db.close()
    assert left == {ids[2], ids[6], ids[7]}
    for sid in ids:
        assert blobs.path(crop[sid]).exists() == (sid in left), sid
    assert counters == {f"retention.{k}": v for k, v in expected.items() if v}
    assert len(audit) == 1 and json.loads(audit[0][0])["pending_size"] == 1
    assert prune(data, config) == dict.fromkeys(expected, 0) | {"images": 0}
