"""The embedded broker of `facetrove collector serve` as an attacker and a crash would meet it.

Tried through the real `collector serve` (broker in its child process, real ingest, real store)
with real paho clients: kill -9 of the collector, a 100 MB publish, a retained sample, a client
that subscribes to nothing. Kept: the broker dies with its collector, refuses the big packet and
the retained sample before anyone gets them, and hands a client only the retained messages of
its own subscriptions.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facetrove import wire
from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store.samples import SampleNotFound, get_sample
from tests.collector.ingest_helpers import counter_sum, wait_rows
from tests.collector.serve_helpers import Serve, start_serve, stop_serve
from tests.support.procs import alive
from tests.support.samples import build_sample, many_samples

pytestmark = pytest.mark.slow


class Client:
    """A paho client with a login that records what it receives and how it was disconnected."""

    def __init__(self, port: int, user: str, password: str, client_id: str) -> None:
        self.got: list[mqtt.MQTTMessage] = []
        self.drops: list[Any] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.username_pw_set(user, password)
        self.client.on_message = lambda _c, _u, msg: self.got.append(msg)
        self.client.on_connect = lambda *_a: self.connected.set()
        self.client.on_disconnect = lambda *a: (self.drops.append(a[3]), self.connected.clear())
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One serve for the tests that do not kill it (it takes seconds to start)."""
    devices = ("cam-big", "cam-honest", "cam-00", "cam-other", "cam-quiet", "cam-late")
    s = start_serve(tmp_path_factory.mktemp("serve"), devices=devices)
    try:
        yield s
    finally:
        stop_serve(s)


def test_broker_child_dies_with_a_killed_collector(tmp_path: Path) -> None:
    """Tried: kill -9 of `collector serve` while a client is connected. Kept: the broker child
    is gone at once (no orphan acknowledging publishes nobody will store) and the port is free."""
    serve = start_serve(tmp_path, devices=("cam-kill",))
    try:
        child = serve.broker_child()
        agent = Client(serve.port, "cam-kill", serve.password("cam-kill"), "cam-kill")
        serve.proc.send_signal(signal.SIGKILL)
        serve.proc.wait(10)
        killed = time.monotonic()
        while alive(child) and time.monotonic() - killed < 5:
            time.sleep(0.01)
        gone_after = time.monotonic() - killed
        agent.close()
        assert not alive(child), "the broker child outlived its collector by 5 s"
        assert gone_after < 0.5, f"the broker child lived {gone_after:.2f}s after its collector"
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", serve.port)) != 0, "someone still listens"
    finally:
        stop_serve(serve)
        if alive(locals().get("child", -1)):
            os.kill(child, signal.SIGKILL)


def test_oversized_publish_is_refused_by_the_broker(serve: Serve) -> None:
    """Tried: a 100 MB publish on a sample topic with the agent login, then a normal sample.
    Kept: the broker closes the sender's connection before reading the payload; nothing reaches
    ingest (no too_large in its quarantine: it never saw the bytes); the normal sample after a
    reconnect is stored."""
    sniffer = Client(serve.port, "collector", serve.password("collector"), "facetrove-sniffer")
    sniffer.client.subscribe(wire.subscription(wire.Kind.SAMPLE), qos=1)
    agent = Client(serve.port, "cam-big", serve.password("cam-big"), "cam-big")
    try:
        time.sleep(0.3)
        info = agent.client.publish(
            wire.topic("cam-big", wire.Kind.SAMPLE), b"\0" * (100 * 1024 * 1024), qos=1
        )
        deadline = time.monotonic() + 30
        while not agent.drops and time.monotonic() < deadline:
            time.sleep(0.05)
        assert agent.drops, "the broker kept the connection of a 100 MB publisher"
        assert not info.is_published()
        agent.close()
        time.sleep(0.5)
        assert sniffer.got == [], "the broker forwarded the 100 MB message"
        assert counter_sum(serve.data, ["rejected.too_large"]) == 0
        (built,) = many_samples(1, devices=1, tag="after-big")
        sample = build_sample(built.crop, "cam-honest")
        honest = Client(serve.port, "cam-honest", serve.password("cam-honest"), "cam-honest")
        honest.client.publish(wire.topic(sample.device_id, wire.Kind.SAMPLE), sample.payload, 1)
        assert wait_rows(serve.data, 1, timeout=20) >= 1
        assert _stored(serve.data, sample.sample_id)
        honest.close()
    finally:
        sniffer.close()
    assert serve.proc.poll() is None


def test_retained_sample_is_refused_and_retained_messages_do_not_leak(serve: Serve) -> None:
    """Tried: a device publishes a valid sample with the retain flag; another device's retained
    status exists (ingest subscribes to every status); then a client that subscribes to nothing
    connects, and a collector login that subscribes to the sample topic. Kept: the retained
    sample is neither stored nor kept by the broker; the client with no subscription receives
    nothing."""
    (sample,) = many_samples(1, devices=1, tag="retained")
    assert sample.device_id == "cam-00"
    other = Client(serve.port, "cam-other", serve.password("cam-other"), "cam-other")
    status = b'{"device_id": "cam-other", "state": "online"}'
    other.client.publish(wire.topic("cam-other", wire.Kind.STATUS), status, 1, retain=True)
    other.close()
    agent = Client(serve.port, "cam-00", serve.password("cam-00"), "cam-00")
    info = agent.client.publish(
        wire.topic(sample.device_id, wire.Kind.SAMPLE), sample.payload, 1, retain=True
    )
    info.wait_for_publish(10)
    agent.close()
    time.sleep(1.0)
    quiet = Client(serve.port, "cam-quiet", serve.password("cam-quiet"), "cam-quiet")
    late = Client(serve.port, "collector", serve.password("collector"), "facetrove-late")
    late.client.subscribe(wire.topic(sample.device_id, wire.Kind.SAMPLE), qos=1)
    time.sleep(1.5)
    try:
        assert [m.topic for m in quiet.got] == [], "retained messages leaked to a client"
        assert late.got == [], "the broker kept a retained sample"
        assert not _stored(serve.data, sample.sample_id), "a retained sample was stored"
        assert wait_rows(serve.data, 1, timeout=10, table="devices") >= 1  # the status was
    finally:
        quiet.close()
        late.close()


def _stored(data: Path, sample_id: str) -> bool:
    db = connect(data / DB_NAME)
    try:
        get_sample(db, sample_id)
    except SampleNotFound:
        return False
    finally:
        db.close()
    return True
