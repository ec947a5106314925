"""Collector -> device messages (config, model), dispatched per topic, on a real Mosquitto.

Tried as an attacker and a crash would: another device's config forwarded to us (amqtt forwards
retained messages matching any client's subscription), garbage and wrong-kind payloads, a cleared
retained message, and a handler that raises. None of them may reach a handler or stop the
network thread; the next good message still arrives.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facetrove import wire
from facetrove.agent.delivery.inbox import CollectorInbox, Inbox
from tests.agent.delivery_support import publish_retained
from tests.support.broker import Mosquitto

DEVICE = "cam-in"


class _Recorder:
    def __init__(self, fail_first_config: bool = False) -> None:
        self.configs: list[wire.AgentConfig] = []
        self.models: list[wire.ModelAnnouncement] = []
        self.after = 0
        self.fail_first_config = fail_first_config
        self.changed = threading.Condition()

    def on_config(self, cfg: wire.AgentConfig) -> None:
        with self.changed:
            self.configs.append(cfg)
            self.changed.notify_all()
        if self.fail_first_config and len(self.configs) == 1:
            raise RuntimeError("handler blew up")

    def on_model(self, ann: wire.ModelAnnouncement) -> None:
        with self.changed:
            self.models.append(ann)
            self.changed.notify_all()

    def woke(self) -> None:
        with self.changed:
            self.after += 1
            self.changed.notify_all()

    def wait(self, predicate: Any, timeout: float = 10.0) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


def _connect(port: int, inbox: Inbox, extra_topics: tuple[str, ...] = ()) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"inbox-{uuid.uuid4().hex[:8]}")
    connected = threading.Event()

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        for topic in (*inbox.topics(), *extra_topics):
            c.subscribe(topic, qos=1)
        connected.set()

    client.on_connect = on_connect
    inbox.attach(client)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(10)
    return client


def _model(model_id: str) -> bytes:
    ann = wire.ModelAnnouncement(
        model_id=model_id,
        url="http://127.0.0.1:1/m.onnx",
        sha256="a" * 64,
        size=10,
        classes=["happy", "sad"],
    )
    return ann.model_dump_json().encode()


def _config(revision: int) -> bytes:
    return wire.AgentConfig(revision=revision).model_dump_json().encode()


def test_each_topic_reaches_its_own_handler(mosquitto: Mosquitto) -> None:
    rec = _Recorder()
    inbox = CollectorInbox(DEVICE, on_config=rec.on_config, on_model=rec.on_model, after=rec.woke)
    assert sorted(inbox.topics()) == sorted(
        [wire.topic(DEVICE, wire.Kind.CONFIG), wire.topic(DEVICE, wire.Kind.MODEL)]
    )
    client = _connect(mosquitto.port, inbox)
    try:
        publish_retained(mosquitto.port, DEVICE, wire.Kind.CONFIG, _config(3))
        publish_retained(mosquitto.port, DEVICE, wire.Kind.MODEL, _model("m-2"))
        assert rec.wait(lambda: rec.configs and rec.models)
        assert [c.revision for c in rec.configs] == [3]
        assert [m.model_id for m in rec.models] == ["m-2"]
        assert rec.wait(lambda: rec.after == 2)
    finally:
        client.disconnect()
        client.loop_stop()


def test_hostile_messages_reach_no_handler_and_the_next_good_one_arrives(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    rec = _Recorder(fail_first_config=True)
    inbox = CollectorInbox(DEVICE, on_config=rec.on_config, on_model=rec.on_model, after=rec.woke)
    foreign = wire.topic("other-cam", wire.Kind.CONFIG)
    client = _connect(mosquitto.port, inbox, extra_topics=(foreign,))
    try:
        publish_retained(mosquitto.port, "other-cam", wire.Kind.CONFIG, _config(99))
        publish_retained(mosquitto.port, DEVICE, wire.Kind.MODEL, b"{not json")
        publish_retained(mosquitto.port, DEVICE, wire.Kind.MODEL, _config(5))  # wrong kind
        publish_retained(mosquitto.port, DEVICE, wire.Kind.MODEL, b"")  # cleared retained
        publish_retained(mosquitto.port, DEVICE, wire.Kind.CONFIG, _config(1))  # handler raises
        publish_retained(mosquitto.port, DEVICE, wire.Kind.CONFIG, _config(2))
        publish_retained(mosquitto.port, DEVICE, wire.Kind.MODEL, _model("m-ok"))
        assert rec.wait(lambda: len(rec.configs) == 2 and rec.models), (rec.configs, rec.models)
        assert [c.revision for c in rec.configs] == [1, 2]
        assert [m.model_id for m in rec.models] == ["m-ok"]
        text = caplog.text
        assert "ignored a bad" in text and "handler blew up" in text
    finally:
        client.disconnect()
        client.loop_stop()
