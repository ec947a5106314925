"""`collector forget --device X`: samples that came through a real Mosquitto and a real
`collector ingest` process, then the real command; no row or image file of X may be left, and
every row and file of the other device stays (also a crop both devices sent byte for byte)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store.blobs import BlobStore
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, Publisher, wait_rows
from tests.support.broker import Mosquitto
from tests.support.samples import base_crops, build_sample, with_comment

pytestmark = pytest.mark.slow


def rows(data: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    db = connect(data / DB_NAME)
    try:
        return [tuple(r) for r in db.conn.execute(sql, args).fetchall()]
    finally:
        db.close()


def forget(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FACETROVE, "collector", "forget", "--data-dir", str(data), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_forget_leaves_no_row_or_file_of_the_device_and_keeps_the_others(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    ingest = IngestProcess(data, broker.url)
    pub = None
    crops = base_crops()
    shared = with_comment(crops[0], "both devices")
    try:
        ingest.start()
        pub = Publisher(broker.port)
        for k in range(4):
            pub.publish("cam-a", build_sample(with_comment(crops[k % 3], f"a{k}"), "cam-a").payload)
            pub.publish("cam-b", build_sample(with_comment(crops[k % 3], f"b{k}"), "cam-b").payload)
        pub.publish("cam-a", build_sample(shared, "cam-a").payload)
        wait_rows(data, 9, timeout=30)
        time.sleep(0.3)  # cam-b's copy of the shared crop arrives after cam-a's original
        pub.publish("cam-b", build_sample(shared, "cam-b").payload)
        pub.publish("cam-a", b"not a sample")  # quarantined under cam-a
        wait_rows(data, 10, timeout=30)
        wait_rows(data, 1, timeout=30, table="quarantine")
        pub.wait_acked(11, timeout=30)
    finally:
        if pub is not None:
            pub.close()
        ingest.stop()
        broker.stop()

    blobs = BlobStore(data / "blobs")
    a_images = {
        str(r[0]) for r in rows(data, "SELECT crop_sha256 FROM samples WHERE device_id='cam-a'")
    }
    b_before = rows(data, "SELECT * FROM samples WHERE device_id = 'cam-b' ORDER BY id")
    b_images = {
        str(r[0]) for r in rows(data, "SELECT crop_sha256 FROM samples WHERE device_id='cam-b'")
    }
    assert len(a_images) == 5 and len(b_before) == 5 and len(a_images & b_images) == 1

    assert rows(data, "SELECT COUNT(*) FROM samples WHERE duplicate_of IS NOT NULL") == [(1,)]
    # A dataset version holding one cam-a sample (as a build leaves it: rows and a folder).
    db = connect(data / DB_NAME)
    first_a = rows(data, "SELECT id FROM samples WHERE device_id = 'cam-a' LIMIT 1")[0][0]
    with db.conn:
        db.conn.execute("INSERT INTO versions (id, status) VALUES ('v1', 'ready')")
        db.conn.execute("INSERT INTO version_samples VALUES ('v1', ?, 'train', 'happy')", [first_a])
    db.close()
    (data / "versions" / "v1" / "crops").mkdir(parents=True)
    refused = forget(data, "--device", "cam-a")
    assert refused.returncode == 1 and "versions v1 contain samples of cam-a" in refused.stderr
    assert len(rows(data, "SELECT id FROM samples WHERE device_id = 'cam-a'")) == 5

    bad = forget(data, "--device", "cam-a", "--before", "last tuesday")
    assert bad.returncode == 2 and "is not a date" in bad.stderr, bad.stderr
    assert len(rows(data, "SELECT id FROM samples WHERE device_id = 'cam-a'")) == 5

    early = forget(data, "--device", "cam-a", "--before", "2000-01-01", "--delete-versions")
    assert early.returncode == 0 and json.loads(early.stdout)["samples"] == 0, early.stderr
    assert len(rows(data, "SELECT id FROM samples WHERE device_id = 'cam-a'")) == 5
    assert rows(data, "SELECT id FROM devices WHERE id = 'cam-a'") == [("cam-a",)]

    done = forget(data, "--device", "cam-a", "--delete-versions")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["samples"] == 5 and summary["images"] == 4 and summary["device_row"]
    assert summary["versions_deleted"] == ["v1"] and not (data / "versions" / "v1").exists()
    for table in ("samples", "quarantine"):
        assert rows(data, f"SELECT * FROM {table} WHERE device_id = 'cam-a'") == [], table
    assert rows(data, "SELECT * FROM devices WHERE id = 'cam-a'") == []
    for sha in a_images - b_images:
        assert not blobs.path(sha).exists(), "an image of the forgotten device is still on disk"
    for sha in b_images:
        assert blobs.path(sha).exists(), "an image of the other device was deleted"
    b_after = rows(data, "SELECT * FROM samples WHERE device_id = 'cam-b' ORDER BY id")
    assert len(b_after) == 5
    # The one change to cam-b: its copy of the shared crop is now the original (counted).
    assert rows(data, "SELECT COUNT(*) FROM samples WHERE duplicate_of IS NOT NULL") == [(0,)]
    assert [r[0] for r in b_after] == [r[0] for r in b_before]
    audit = rows(data, "SELECT action, target, detail FROM audit WHERE action = 'device.forget'")
    assert len(audit) == 2 and {a[1] for a in audit} == {"cam-a"}
    assert [json.loads(str(a[2]))["samples"] for a in audit] == [0, 5]
    again = forget(data, "--device", "cam-a")
    assert again.returncode == 1 and "no device 'cam-a'" in again.stderr
