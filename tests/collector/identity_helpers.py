"""A real paho client for the device-identity tests: connect as a login, record what arrives."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.collector.ingest_helpers import FACETROVE


class Refused(ConnectionError):
    """The broker refused the CONNECT (or did not answer)."""


class Mqtt:
    """One MQTT 3.1.1 connection with a login; ``messages`` collects (topic, payload, retain)."""

    def __init__(
        self,
        port: int,
        username: str,
        password: str,
        client_id: str,
        *,
        clean: bool = True,
        timeout: float = 10.0,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
            protocol=mqtt.MQTTv311,
        )  # fmt: skip
        self.client.username_pw_set(username, password)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.messages: list[tuple[str, bytes, bool]] = []
        self.granted: list[int] = []
        self.disconnected = threading.Event()
        self._connected = threading.Event()
        self._result: list[str] = []
        self._subacks = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, bytes(m.payload), bool(m.retain))
        )
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda *_a: self.disconnected.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise Refused("no CONNACK")
        if self._result[0] != "Success":
            self.close()
            raise Refused(self._result[0])

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._result.append(str(rc))
        self._connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, _m: int, codes: Any, _p: Any) -> None:
        self.granted += [c.value for c in codes]
        self._subacks.set()

    def subscribe(self, topic_filter: str, timeout: float = 10.0) -> int:
        """Subscribe at QoS 1; returns the granted code (128 = refused)."""
        self._subacks.clear()
        self.client.subscribe(topic_filter, qos=1)
        assert self._subacks.wait(timeout), f"no SUBACK for {topic_filter}"
        return self.granted[-1]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """End the connection without DISCONNECT, so the broker sends the last will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()


def add_device(data_dir: Path, name: str, *extra: str) -> dict[str, Any]:
    """`facetrove collector device add NAME --json` as a user runs it."""
    proc = subprocess.run(
        [FACETROVE, "collector", "device", "add", name, "--json", "--data-dir", str(data_dir),
         *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def device_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FACETROVE, "collector", "device", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def wait_until(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())
