"""Ingest answers with receipts: what it stored, what it holds already, what it refused for good.

Real Mosquitto, real `collector ingest` processes, real SQLite; the "agent" is a paho client
that publishes samples and reads its receipt topic, or a real `facetrove agent run`.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facetrove import wire
from tests.agent.agent_process import start_agent
from tests.collector.ingest_helpers import IngestProcess, Publisher, counter_sum, wait_rows
from tests.collector.test_delivery_kill import ALL_PHOTOS, face_folder, stored_ids
from tests.support.broker import Mosquitto
from tests.support.samples import base_crops, build_sample, with_comment

pytestmark = pytest.mark.slow


class Receipts:
    """Reads every receipt topic and keeps what arrives, per device."""

    def __init__(self, port: int) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="receipt-reader")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("facetrove/v1/+/receipt", qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        device, kind = wire.parse_topic(msg.topic)
        assert kind is wire.Kind.RECEIPT
        with self._lock:
            self.got.append((device, json.loads(msg.payload)))

    def wait_for(self, n: int, timeout: float = 20) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.got) >= n:
                    return list(self.got)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.got)} receipts, expected {n}: {self.got}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_receipts_for_new_resent_poison_and_conflicting_samples(tmp_path: Path) -> None:
    """Tried, one at a time: a valid sample; the same again (a re-send); a sample whose crop
    does not match its sha256; another device's sample under the first one's id; bytes with no
    readable id. Kept: stored, stored again, quarantined "image", quarantined "id_conflict" (each
    to the device of the topic it came on); nothing for the unreadable one; ingest alive."""
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    ingest = IngestProcess(data, broker.url)
    reader = pub = None
    crops = base_crops()
    good = build_sample(with_comment(crops[0], "good"), "cam-a")
    bad = build_sample(with_comment(crops[1], "bad"), "cam-a")
    poison = bad.payload[:-40] + bytes(40 - 2) + bad.payload[-2:]  # same length, other bytes
    thief = build_sample(with_comment(crops[2], "thief"), "cam-b", sample_id=good.sample_id)
    try:
        ingest.start()
        reader = Receipts(broker.port)
        pub = Publisher(broker.port)
        steps: list[tuple[str, bytes]] = [
            ("cam-a", good.payload),
            ("cam-a", good.payload),
            ("cam-a", poison),
            ("cam-b", thief.payload),
        ]
        for i, (device, payload) in enumerate(steps, 1):
            pub.publish(device, payload)
            reader.wait_for(i)
        pub.publish("cam-a", b"no sample here")
        time.sleep(1.0)
        got = reader.wait_for(4)
        assert len(got) == 4, got
        assert [d for d, _ in got] == ["cam-a", "cam-a", "cam-a", "cam-b"]
        assert [r["stored"] for _, r in got] == [[good.sample_id], [good.sample_id], [], []]
        assert got[2][1]["quarantined"] == {bad.sample_id: "image"}
        assert got[3][1]["quarantined"] == {good.sample_id: "id_conflict"}
        for device, receipt in got:
            wire.decode_json_message(
                wire.Kind.RECEIPT, json.dumps(receipt).encode(), device_id=device
            )
        assert wait_rows(data, 1, timeout=5) == 1 and ingest.alive()
    finally:
        for c in (reader, pub):
            if c is not None:
                c.close()
        ingest.stop()
        broker.stop()


def test_ingest_tells_known_devices_when_it_has_subscribed_again(tmp_path: Path) -> None:
    """Tried: ingest stores one sample of cam-a, is SIGKILLed and started again. Kept: on the
    restart cam-a gets an empty receipt with ``subscribed`` set (agents then send again at once
    what waits for its receipt, instead of after their back-off); none on the first start of an
    empty store, and none for devices the store does not know."""
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    ingest = IngestProcess(data, broker.url)
    reader = pub = None
    try:
        ingest.start()
        reader = Receipts(broker.port)
        pub = Publisher(broker.port)
        pub.publish("cam-a", build_sample(base_crops()[0], "cam-a").payload)
        first = reader.wait_for(1)
        assert first[0][1]["subscribed"] is False and len(first[0][1]["stored"]) == 1
        ingest.kill()
        ingest.start()
        got = reader.wait_for(2)
        time.sleep(0.5)
        assert len(reader.got) == 2, reader.got
        device, hello = got[1]
        assert device == "cam-a"
        assert hello["subscribed"] is True
        assert hello["stored"] == [] and hello["quarantined"] == {}
    finally:
        for c in (reader, pub):
            if c is not None:
                c.close()
        ingest.stop()
        broker.stop()


def test_a_retained_sample_is_stored_then_taken_off_the_broker(tmp_path: Path) -> None:
    """Tried: a device publishes a valid sample with the retain flag to Mosquitto (which, unlike
    the embedded broker, keeps it and hands the face to every new subscription), then ingest
    starts. Kept: the sample stored once; afterwards a new subscriber gets no retained copy;
    the empty message that cleared it is neither stored nor quarantined."""
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    ingest = IngestProcess(data, broker.url)
    pub = late = None
    sample = build_sample(base_crops()[0], "cam-a")
    got: list[bytes] = []
    try:
        pub = Publisher(broker.port)
        name = wire.topic("cam-a", wire.Kind.SAMPLE)
        pub.client.publish(name, sample.payload, qos=1, retain=True)
        pub.wait_acked(1)
        ingest.start()
        assert wait_rows(data, 1, timeout=20) == 1
        time.sleep(1.0)  # the clearing publish follows the commit
        late = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="late-reader")
        late.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
        late.connect("127.0.0.1", broker.port)
        late.subscribe("facetrove/v1/+/sample", qos=1)
        late.loop_start()
        time.sleep(1.0)
        assert got == [], "the broker still hands the face to new subscribers"
        assert ingest.alive()
    finally:
        if late is not None:
            late.disconnect()
            late.loop_stop()
        if pub is not None:
            pub.close()
        ingest.stop()
        broker.stop()
    reasons = [*wire.REASONS, *wire.COLLECTOR_REASONS]
    assert counter_sum(data, [f"rejected.{r}" for r in reasons]) == 0
    assert wait_rows(data, 1, timeout=1) == 1


def test_real_agent_through_two_ingest_workers_on_a_shared_subscription(tmp_path: Path) -> None:
    """A real agent sends 120 face photos to Mosquitto; two ingest processes share the samples
    ($share/ingest/...), one is killed and restarted mid-stream. Kept: the agent drains (every
    sample confirmed by a receipt from whichever worker stored it), every accepted id is stored
    once, both workers sent receipts."""
    photos = face_folder(tmp_path / "photos", 120)
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    shared = ("--shared-group", "ingest", "--client-id")
    a = IngestProcess(data, broker.url, *shared, "facetrove-a", name="ingest-a")
    b = IngestProcess(data, broker.url, *shared, "facetrove-b", name="ingest-b")
    agent = None
    try:
        a.start()
        b.start()
        agent = start_agent(
            tmp_path / "agent", broker.url, "shared-cam", *ALL_PHOTOS,
            "--set", "receipts.timeout_s=2", "--set", "receipts.backoff_max_s=4",
            source=str(photos),
        )  # fmt: skip
        assert wait_rows(data, 30, timeout=60) >= 30, agent.stderr[-2000:]
        b.kill()
        time.sleep(0.5)
        b.start()
        rc, summary = agent.wait(120)
        assert rc == 0, agent.stderr[-3000:]
        accepted = summary["accepted_ids"]
        assert len(accepted) >= 100 and summary["outbox_depth"] == 0
        assert sorted(stored_ids(data, "shared-cam")) == sorted(accepted)
    finally:
        if agent is not None:
            agent.stop()
        a.stop()
        b.stop()
        broker.stop()
    for worker in (a, b):
        last = worker.log.read_text().rsplit("ingest stopped: ", 1)[1]
        assert int(last.split(" receipts")[0].rsplit(", ", 1)[1]) > 0, last
