"""At-least-once from broker to disk, through a real Mosquitto and real ingest processes.

Each test publishes with a real paho client at QoS 1, disturbs the system the way production
would (SIGKILL of ingest, broker restart) and then checks the store row by row and byte by byte.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, BlobStore, connect
from tests.collector.ingest_helpers import IngestProcess, Publisher, wait_rows
from tests.support.broker import Mosquitto
from tests.support.samples import Built, many_samples

pytestmark = pytest.mark.slow
N = 10_000


def assert_store_exact(data_dir: Path, samples: list[Built]) -> None:
    """Exactly these samples, once each, every crop byte-identical to what was published."""
    db = connect(data_dir / DB_NAME)
    try:
        rows = db.conn.execute("SELECT id, crop_sha256, duplicate_of FROM samples").fetchall()
    finally:
        db.close()
    stored = {r[0]: r for r in rows}
    assert len(rows) == len(samples), f"{len(rows)} rows for {len(samples)} samples"
    assert set(stored) == {s.sample_id for s in samples}
    blobs = BlobStore(data_dir / "blobs")
    for s in samples:
        row = stored[s.sample_id]
        assert row[1] == s.crop_sha256
        assert row[2] is None, "distinct crops must not be flagged duplicate"
        data = blobs.get(s.crop_sha256)
        assert hashlib.sha256(data).hexdigest() == s.crop_sha256
        assert data == s.crop


def publish_all(pub: Publisher, samples: list[Built], pace_every: int = 500) -> threading.Thread:
    """Publish in a background thread, pausing briefly so the disturbances land mid-stream."""

    def run() -> None:
        for i, s in enumerate(samples):
            pub.publish(s.device_id, s.payload)
            if i % pace_every == pace_every - 1:
                time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ingest_killed_twice_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """10,000 samples; ingest SIGKILLed twice mid-stream and restarted with the same client id.

    Kept: exactly 10,000 rows, each crop byte-identical, none twice (redelivered copies ignored).
    """
    samples = many_samples(N, tag="kill")
    broker = Mosquitto(tmp_path / "mq").start()
    ingest = IngestProcess(tmp_path / "data", broker.url)
    pub = None
    try:
        ingest.start()
        pub = Publisher(broker.port)
        sender = publish_all(pub, samples)
        for threshold in (2_000, 5_500):
            seen = wait_rows(ingest.data_dir, threshold, timeout=60)
            assert seen >= threshold
            ingest.kill()
            time.sleep(0.3)  # the broker queues for the offline session meanwhile
            ingest.start()
        sender.join(120)
        pub.wait_acked(N)
        assert wait_rows(ingest.data_dir, N, timeout=120) == N
        time.sleep(0.5)  # any late redelivery must not add a row
        assert ingest.alive()
        assert ingest.starts == 3
    finally:
        if pub:
            pub.close()
        ingest.stop()
        broker.stop()
    assert_store_exact(ingest.data_dir, samples)


def test_broker_restart_mid_stream_loses_nothing(tmp_path: Path) -> None:
    """10,000 samples; Mosquitto (persistence on) stopped and started again mid-stream.

    Publisher and ingest reconnect on their own. Kept: exactly 10,000 rows, byte-identical.
    """
    samples = many_samples(N, tag="restart")
    broker = Mosquitto(tmp_path / "mq").start()
    ingest = IngestProcess(tmp_path / "data", broker.url)
    pub = None
    try:
        ingest.start()
        pub = Publisher(broker.port)
        sender = publish_all(pub, samples)
        assert wait_rows(ingest.data_dir, 3_000, timeout=60) >= 3_000
        broker.stop()
        time.sleep(0.5)
        broker.start()
        sender.join(120)
        pub.wait_acked(N, timeout=120)
        assert wait_rows(ingest.data_dir, N, timeout=120) == N
        time.sleep(0.5)
        assert ingest.alive()
    finally:
        if pub:
            pub.close()
        ingest.stop()
        broker.stop()
    assert_store_exact(ingest.data_dir, samples)


def test_two_ingest_workers_on_a_shared_subscription(tmp_path: Path) -> None:
    """4,000 samples split by Mosquitto between two ingest processes ($share/ingest/...) writing
    one store; one of them SIGKILLed and restarted mid-stream. Kept: exactly 4,000 rows."""
    samples = many_samples(4_000, tag="shared")
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    shared = ("--shared-group", "ingest", "--client-id")
    a = IngestProcess(data, broker.url, *shared, "facetrove-ingest-a", name="ingest-a")
    b = IngestProcess(data, broker.url, *shared, "facetrove-ingest-b", name="ingest-b")
    pub = None
    try:
        a.start()
        b.start()
        pub = Publisher(broker.port)
        sender = publish_all(pub, samples, pace_every=400)
        assert wait_rows(data, 1_500, timeout=60) >= 1_500
        b.kill()
        time.sleep(0.3)
        b.start()
        sender.join(60)
        pub.wait_acked(4_000)
        assert wait_rows(data, 4_000, timeout=60) == 4_000
        time.sleep(0.5)
        assert a.alive() and b.alive()
    finally:
        if pub:
            pub.close()
        a.stop()
        b.stop()
        broker.stop()
    assert_store_exact(data, samples)
    logs = a.log.read_text() + b.log.read_text()
    assert "$share/ingest/facetrove/v1/+/sample" in logs
    stored_by_a = int(a.log.read_text().rsplit("ingest stopped: ", 1)[1].split()[0])
    assert 0 < stored_by_a < 4_000, "both workers must have taken a share"
