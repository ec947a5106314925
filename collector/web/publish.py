"""Publishing retained messages (device configs) to the collector's broker with paho-mqtt."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Protocol

import paho.mqtt.client as mqtt

from facetrove.collector.config import CollectorConfig

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not take the message in time (the config stays saved in the store)."""


class Publisher(Protocol):
    """What the web app needs to push a message to devices."""

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        """Send one message; raise ``PublishError`` if the broker did not confirm it."""
        ...


def broker_address(config: CollectorConfig) -> tuple[str, int, bool, str | None, str | None]:
    """(host, port, tls, username, password) of the collector's broker."""
    broker = config.broker
    if broker.url:
        from facetrove.collector.config.broker import parse_broker_url

        addr = parse_broker_url(broker.url)
        return (
            addr.host,
            addr.port,
            addr.tls,
            addr.username or broker.username,
            addr.password or broker.password,
        )
    return broker.embedded_host, broker.embedded_port, False, broker.username, broker.password


class MqttPublisher:
    """Connects on first use, keeps the connection, publishes with a confirmation timeout."""

    def __init__(self, config: CollectorConfig, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _connect(self) -> mqtt.Client:
        host, port, tls, username, password = broker_address(self.config)
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
            client_id=f"facetrove-web-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        if username:
            client.username_pw_set(username, password)
        if tls:
            client.tls_set()
        connected = threading.Event()
        client.on_connect = lambda c, u, f, rc, p=None: connected.set()
        try:
            client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise PublishError(f"cannot reach the broker at {host}:{port}: {exc}") from None
        client.loop_start()
        if not connected.wait(self.timeout):
            client.loop_stop()
            raise PublishError(f"the broker at {host}:{port} did not accept the connection")
        return client

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        """Publish and wait until the broker confirms (QoS 1)."""
        with self._lock:
            if self._client is None or not self._client.is_connected():
                self.close()
                self._client = self._connect()
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        try:
            info.wait_for_publish(self.timeout)
        except (ValueError, RuntimeError) as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from None
        if not info.is_published():
            raise PublishError(f"the broker did not confirm {topic} within {self.timeout:g}s")

    def close(self) -> None:
        """Disconnect (safe to call twice)."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
