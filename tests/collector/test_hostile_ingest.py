"""Poison messages among valid samples, through real brokers into real ingest (issue 9, item 1).

Tried, three rounds each, between rounds of valid samples: capture times that overflow in UTC
(``9999-12-31T23:59:59-01:00``, ``0001-01-01T00:30:00+01:00``; once these stopped ``collector
serve`` entirely and, with Mosquitto, every restart of ingest), a 1969 time, a status with a
poison time, a ~800-byte crop declaring 16384x16384 and one declaring 2048x2048, a stored sample
id again with other bytes, the same id and bytes from another device, an undecodable crop, junk
and a device mismatch. Once through Mosquitto + ``facetrove collector ingest`` (then ingest is
restarted: nothing may come back), once through ``facetrove collector serve``'s embedded broker.
Kept: every valid sample, byte-identical; every hostile message quarantined under its reason;
no blob but the valid samples' crops; the process alive and without a traceback.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, BlobStore, connect
from facetrove.wire import Kind, topic
from tests.collector.identity_helpers import add_device
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, Publisher, wait_rows
from tests.collector.test_reliability import assert_store_exact
from tests.support.broker import Mosquitto, free_port, wait_port
from tests.support.hostile import Hostile, hostile_messages, with_time
from tests.support.samples import Built, many_samples

pytestmark = pytest.mark.slow
ROUNDS = 3
VALID_PER_ROUND = 40
DEVICE = "cam-00"


def rejected_counts(data: Path) -> Counter[str]:
    db = connect(data / DB_NAME)
    try:
        rows = db.conn.execute(
            "SELECT name, value FROM counters WHERE name LIKE 'rejected.%'"
        ).fetchall()
    finally:
        db.close()
    return Counter({name.removeprefix("rejected."): int(value) for name, value in rows})


def wait_rejected(data: Path, n: int, timeout: float = 30) -> Counter[str]:
    deadline = time.monotonic() + timeout
    got = rejected_counts(data)
    while sum(got.values()) < n and time.monotonic() < deadline:
        time.sleep(0.1)
        got = rejected_counts(data)
    return got


def publish_rounds(pub: Publisher, data: Path, hostile: list[Hostile]) -> list[Built]:
    """Round 0 stores the originals; then each round: hostile messages, then valid samples."""
    valid = many_samples(VALID_PER_ROUND * (ROUNDS + 1), devices=1, tag=f"ok-{data.name}")
    for s in valid[:VALID_PER_ROUND]:
        pub.publish(s.device_id, s.payload)
    first = VALID_PER_ROUND + 1  # with the original
    assert wait_rows(data, first, timeout=30) == first
    for r in range(1, ROUNDS + 1):
        for h in hostile:
            pub.publish_raw(h.topic, h.payload, qos=1)
        for s in valid[r * VALID_PER_ROUND : (r + 1) * VALID_PER_ROUND]:
            pub.publish(s.device_id, s.payload)
    pub.wait_acked(1 + len(valid) + ROUNDS * len(hostile), timeout=60)
    return valid


def check_store(data: Path, valid: list[Built], hostile: list[Hostile]) -> None:
    expected = Counter({r: n * ROUNDS for r, n in Counter(h.reason for h in hostile).items()})
    assert wait_rows(data, len(valid), timeout=30) == len(valid)
    assert wait_rejected(data, sum(expected.values())) == expected
    assert_store_exact(data, valid)
    blobs = BlobStore(data / "blobs")
    on_disk = {p.stem for p in blobs.root.glob("*/*.jpg")}
    assert on_disk == {s.crop_sha256 for s in valid}, "a rejected message left a blob behind"
    assert not list(blobs.root.glob("*/.tmp-*")), "temporary files left behind"
    db = connect(data / DB_NAME)
    try:
        kept = dict(
            db.conn.execute("SELECT reason, COUNT(*) FROM quarantine GROUP BY reason").fetchall()
        )
    finally:
        db.close()
    assert kept == dict(expected)


def check_skewed_clocks(pub: Publisher, data: Path, stored: int) -> None:
    """A device clock a day ahead and one never set (1970): stored, flagged, counted, shown."""
    ahead = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    skewed = many_samples(2, devices=1, tag="skewed")
    for s, when in zip(skewed, (ahead, "1970-01-01T00:00:07Z"), strict=True):
        pub.publish_raw(topic(DEVICE, Kind.SAMPLE), with_time(s, when), qos=1)
    assert wait_rows(data, stored + 2, timeout=30) == stored + 2
    db = connect(data / DB_NAME)
    try:
        flags = dict(db.conn.execute("SELECT id, clock_skew_s FROM samples").fetchall())
    finally:
        db.close()
    assert flags[skewed[0].sample_id] == pytest.approx(86_400, abs=60)
    assert flags[skewed[1].sample_id] < 0
    assert sum(v is not None for v in flags.values()) == 2
    res = subprocess.run(
        [FACETROVE, "collector", "stats", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert re.search(r"samples\.clock_skew\s*\S*\s+2\b", res.stdout), res.stdout


def test_poison_through_mosquitto_then_restart(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    ingest = IngestProcess(data, broker.url)
    pub = None
    try:
        ingest.start()
        pub = Publisher(broker.port)
        originals = many_samples(1, devices=1, tag="original")
        pub.publish(DEVICE, originals[0].payload)
        hostile = hostile_messages(DEVICE, originals[0])
        valid = originals + publish_rounds(pub, data, hostile)
        check_store(data, valid, hostile)
        assert ingest.alive(), "ingest died on hostile input"
        check_skewed_clocks(pub, data, len(valid))
        before = rejected_counts(data)
        # A poison message that was never acknowledged would come back and kill this start.
        ingest.stop()
        ingest.start()
        time.sleep(1.5)
        assert ingest.alive()
        assert rejected_counts(data) == before
    finally:
        if pub:
            pub.close()
        code = ingest.stop()
        broker.stop()
    assert code == 0
    assert "Traceback" not in ingest.log.read_text()


def test_poison_through_serve_and_its_embedded_broker(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    login = add_device(data, DEVICE)  # the device's own login (device add)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        serve = subprocess.Popen(
            [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port", str(port),
             "--port", str(free_port())],
            stdout=log, stderr=log,
        )  # fmt: skip
    pub = None
    try:
        wait_port(port, 30)
        deadline = time.monotonic() + 30
        while "subscribed" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        pub = Publisher(port, DEVICE, username=DEVICE, password=login["password"])
        originals = many_samples(1, devices=1, tag="original")
        pub.publish(DEVICE, originals[0].payload)
        # Only the device's own topics: a broker that enforces topic rights refuses the rest.
        own = topic(DEVICE, Kind.SAMPLE), topic(DEVICE, Kind.STATUS)
        hostile = [h for h in hostile_messages(DEVICE, originals[0]) if h.topic in own]
        valid = originals + publish_rounds(pub, data, hostile)
        check_store(data, valid, hostile)
        assert serve.poll() is None, "collector serve died on hostile input"
    finally:
        if pub:
            pub.close()
        serve.terminate()
        code = serve.wait(30)
    assert code == 0, log_path.read_text()[-3000:]
    assert "Traceback" not in log_path.read_text()
