"""Hostile and malformed payloads mixed with valid samples, through a real Mosquitto.

Tried: >= 10,000 bad messages of every kind the contract names (random bytes, truncations,
bad framing, bad JSON, wrong schema version, schema violations, topic/payload device mismatch,
images that lie about their size or hash or do not decode, oversized payloads, junk status and
stats, bad device ids in topics) among 1,000 valid samples, published at QoS 1.
Kept: every valid sample (byte-identical); every bad message counted under its exact reason and
quarantined, the quarantine table pruned to its bound; the ingest process alive throughout.
"""

from __future__ import annotations

import json
import random
import struct
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, connect
from facetrove.wire import Kind, topic
from tests.collector.ingest_helpers import IngestProcess, Publisher, counter_sum, wait_rows
from tests.collector.test_reliability import assert_store_exact
from tests.support.broker import Mosquitto
from tests.support.samples import base_crops, build_sample, many_samples, with_comment

pytestmark = pytest.mark.slow
MAX_PAYLOAD = 64 * 1024
QUARANTINE_ROWS = 300
VALID = 1_000
BAD = 10_500


def _frame(head: dict[str, object] | bytes, crop: bytes) -> bytes:
    raw = head if isinstance(head, bytes) else json.dumps(head).encode()
    return b"FTS1" + struct.pack(">I", len(raw)) + raw + crop


def _split(payload: bytes) -> tuple[dict[str, object], bytes]:
    (n,) = struct.unpack(">I", payload[4:8])
    return json.loads(payload[8 : 8 + n]), payload[8 + n :]


def make_bad(rng: random.Random, crops: list[bytes]) -> Callable[[int], tuple[str, bytes, str]]:
    """A generator of (topic, payload, expected reason) for bad message number i."""
    sos_free = []
    for c in crops:
        i = c.index(b"\xff\xda")
        sos_free.append(c[:i] + b"\xff\xd9")  # a valid header, no image data: cannot decode

    def sample(i: int, device: str = "cam-00") -> tuple[dict[str, object], bytes, bytes]:
        built = build_sample(with_comment(crops[i % len(crops)], f"bad-{i}"), device)
        head, crop = _split(built.payload)
        return head, crop, built.payload

    def gen(i: int) -> tuple[str, bytes, str]:
        t = topic("cam-00", Kind.SAMPLE)
        kind = i % 17
        if kind == 0:
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 600)))
            return t, b"X" + junk, "framing"
        head, crop, payload = sample(i)
        if kind == 1:
            return t, payload[: rng.randrange(0, len(payload) - 1)], "framing"
        if kind == 2:
            return t, payload + b"\x00" * rng.randrange(1, 50), "framing"
        if kind == 3:
            return t, b"FTS1" + struct.pack(">I", rng.choice([0, 40_000, 2**32 - 1])), "framing"
        if kind == 4:
            return t, _frame(b"{not json" + bytes([rng.randrange(256)]), crop), "json"
        if kind == 5:
            return t, _frame(b"[1, 2, 3]", crop), "json"
        if kind == 6:
            return (
                t,
                _frame({**head, "schema_version": rng.choice([0, 2, 99, "1"])}, crop),
                "version",
            )
        if kind == 7:
            bad = dict(head)
            field = rng.choice(["box", "quality", "sample_id", "captured_at", "crop"])
            del bad[field]
            return t, _frame(bad, crop), "schema"
        if kind == 8:
            change = rng.choice(
                [
                    {"detector_score": 2.5},
                    {"frame_width": "640"},
                    {"sample_id": "not-an-id"},
                    {"box": {"xmin": 600, "ymin": 0, "xmax": 900, "ymax": 10}},
                    {"captured_at": "2026-01-01T00:00:00"},
                ]
            )
            return t, _frame({**head, **change}, crop), "schema"
        if kind == 9:
            return topic("cam-07", Kind.SAMPLE), payload, "device_mismatch"
        if kind == 10:
            fake = bytes(rng.getrandbits(8) for _ in range(len(crop)))
            return t, _frame(head, fake), "image"
        if kind == 11:
            part = dict(head["crop"])  # type: ignore[arg-type]
            part["width"] = int(part["width"]) + 1
            return t, _frame({**head, "crop": part}, crop), "image"
        if kind == 12:
            nos = sos_free[i % len(sos_free)]
            ok = build_sample(nos, "cam-00")
            return t, ok.payload, "undecodable"
        if kind == 13:
            return t, b"FTS1" + b"\x00" * (MAX_PAYLOAD + rng.randrange(1, 1000)), "too_large"
        if kind == 14:
            st = topic("cam-00", rng.choice([Kind.STATUS, Kind.STATS]))
            return st, rng.choice([b"", b"nope", b"\xef\xbb\xbf{}", b"[" * 5000]), "json"
        if kind == 15:
            st = topic("cam-00", Kind.STATUS)
            body = {"device_id": "cam-00", "state": rng.choice(["maybe", 1, None])}
            return st, json.dumps(body).encode(), "schema"
        bad_dev = rng.choice(["-lead", "a" * 65, "sp ace", "dot..ok!"])
        return f"facetrove/v1/{bad_dev}/sample", payload, "topic"

    return gen


def test_fuzz_never_kills_ingest_and_counts_every_reason(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    crops = base_crops()
    valid = many_samples(VALID, tag="fuzz-ok")
    gen = make_bad(rng, crops)
    bad = [gen(i) for i in range(BAD)]
    expected = Counter(reason for _, _, reason in bad)
    messages: list[tuple[str, bytes]] = [(t, p) for t, p, _ in bad]
    messages += [(topic(s.device_id, Kind.SAMPLE), s.payload) for s in valid]
    rng.shuffle(messages)

    config = tmp_path / "collector.yaml"
    config.write_text(
        f"ingest:\n  max_payload_bytes: {MAX_PAYLOAD}\n  quarantine_max_rows: {QUARANTINE_ROWS}\n"
    )
    broker = Mosquitto(tmp_path / "mq").start()
    ingest = IngestProcess(tmp_path / "data", broker.url, "--config", str(config))
    pub = None
    try:
        ingest.start()
        pub = Publisher(broker.port)
        for name, payload in messages:
            pub.publish_raw(name, payload, qos=1)
        pub.wait_acked(len(messages), timeout=120)
        assert wait_rows(ingest.data_dir, VALID, timeout=120) == VALID
        deadline = time.monotonic() + 60
        names = [f"rejected.{r}" for r in expected]
        while counter_sum(ingest.data_dir, names) < BAD and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ingest.alive(), "ingest died on hostile input"
    finally:
        if pub:
            pub.close()
        code = ingest.stop()
        broker.stop()
    assert code == 0
    db = connect(ingest.data_dir / DB_NAME)
    try:
        got = {
            name[len("rejected.") :]: value
            for name, value in db.conn.execute(
                "SELECT name, value FROM counters WHERE name LIKE 'rejected.%'"
            ).fetchall()
        }
        kept = db.conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT reason), MIN(LENGTH(detail)) FROM quarantine"
        ).fetchone()
        mismatch_rows = db.conn.execute(
            "SELECT topic, device_id, detail FROM quarantine WHERE reason = 'device_mismatch'"
        ).fetchall()
    finally:
        db.close()
    assert got == dict(expected)
    assert kept[0] == QUARANTINE_ROWS, "quarantine must be pruned to its bound"
    assert kept[1] > 1 and kept[2] > 0, "kept rows carry their reason and a detail"
    for name, device, detail in mismatch_rows:
        assert name.endswith("/cam-07/sample") and device == "cam-07" and "cam-00" in detail
    assert_store_exact(ingest.data_dir, valid)
    log = ingest.log.read_text()
    assert "Traceback" not in log
