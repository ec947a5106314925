"""The MQTT side of the agent: delivers the outbox, status and stats.

What the collector sends back (config, model) is handled by an ``Inbox`` (``inbox.py``) that the
publisher attaches to its connection and subscribes on every connect. Receipts, the collector's
word that a sample is stored, are the publisher's own: a sample's outbox row is deleted on its
receipt, not on the broker's PUBACK (``receipts.py``).

paho-mqtt 2.x with QoS 1. paho keeps messages without a PUBACK in memory and re-sends them
itself after a reconnect, so a row stays "in flight" across reconnects; after its PUBACK it
waits for the receipt, and is handed out again only when that is overdue. After a restart
everything still in the outbox is sent again.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from facetrove import wire
from facetrove.agent.config import AgentConfig
from facetrove.agent.delivery.inbox import Inbox
from facetrove.agent.delivery.outbox import Outbox, OutboxError
from facetrove.agent.delivery.receipts import Confirmations
from facetrove.agent.delivery.stats import IdLog

log = logging.getLogger(__name__)

SOFTWARE = "facetrove-agent/0.1"
# CONNACK refusals that retrying cannot fix, as MQTT 5 reason codes (paho maps the v3.1.1
# return codes 2, 4 and 5 onto 0x85, 0x86 and 0x87).
_FINAL_CONNACK = frozenset(
    {
        0x85,  # client identifier not valid
        0x86,  # bad user name or password
        0x87,  # not authorized
        0x8A,  # banned
        0x8C,  # bad authentication method
    }
)


class PublisherError(RuntimeError):
    """A delivery problem that retrying will not fix (bad TLS file, refused credentials)."""


def refusal_is_final(rc: ReasonCode) -> bool:
    """Whether a refused CONNACK is about who we are (retrying cannot help), not the broker's
    state (e.g. server unavailable, which is retried)."""
    return rc.is_failure and rc.value in _FINAL_CONNACK


def check_tls_files(config: AgentConfig) -> None:
    """Fail early, naming the file, when a configured TLS file is missing or not PEM.

    Raises:
        PublisherError: ``broker.tls.<field>: <path>: <problem>``.
    """
    tls = config.broker.tls
    if not config.broker.use_tls:
        return
    for name in ("ca_file", "cert_file", "key_file"):
        path: Path | None = getattr(tls, name)
        if path is None:
            continue
        if not path.is_file():
            raise PublisherError(f"broker.tls.{name}: {path}: no such file")
        try:
            head = path.read_bytes()[:200_000]
        except OSError as exc:
            raise PublisherError(
                f"broker.tls.{name}: {path}: cannot read ({exc.strerror})"
            ) from None
        if b"-----BEGIN" not in head:
            raise PublisherError(f"broker.tls.{name}: {path}: not a PEM file")
    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    except ssl.SSLError as exc:
        raise PublisherError(
            f"broker.tls.ca_file: {tls.ca_file}: not a CA certificate ({exc})"
        ) from None
    if tls.cert_file and tls.key_file:
        try:
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        except ssl.SSLError as exc:
            raise PublisherError(
                f"broker.tls.cert_file/key_file: {tls.cert_file}, {tls.key_file}: "
                f"not a matching certificate and key ({exc.reason or exc})"
            ) from None


class Publisher:
    """Connects, keeps reconnecting, and drains the outbox in order with bounded in-flight."""

    def __init__(
        self,
        config: AgentConfig,
        outbox: Outbox,
        *,
        inbox: Inbox | None = None,
        stats: Callable[[], wire.Stats] | None = None,
        status_extra: dict[str, Any] | None = None,
        id_log: IdLog | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.inbox, self.stats = inbox, stats
        self.status_extra = status_extra or {}
        self.id_log = id_log or IdLog(None)
        self.device_id = config.device_id
        self.connected = threading.Event()
        self.paused = False
        self.fatal: str | None = None
        self.confirmations = Confirmations(outbox, config.receipts, self.id_log)
        self.connects = 0
        self.attempts = 0
        self.disconnected_since: float | None = time.monotonic()
        self._lock = threading.Lock()
        self._pending: dict[int, str | None] = {}  # mid -> sample id (None: status/stats)
        self._early: dict[int, ReasonCode] = {}  # PUBACKs that beat publish() returning
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self.client = self._make_client()

    # -- set-up --------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        b = self.config.broker
        v5 = b.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        user, pw = b.credentials()
        if user is not None:
            client.username_pw_set(user, pw)
        if b.use_tls:
            check_tls_files(self.config)
            client.tls_set(
                ca_certs=str(b.tls.ca_file) if b.tls.ca_file else None,
                certfile=str(b.tls.cert_file) if b.tls.cert_file else None,
                keyfile=str(b.tls.key_file) if b.tls.key_file else None,
            )
            if b.tls.insecure:
                client.tls_insecure_set(True)
        client.will_set(
            wire.topic(self.device_id, wire.Kind.STATUS),
            self._status("offline"),
            qos=1,
            retain=True,
        )
        client.reconnect_delay_set(b.reconnect_min_s, b.reconnect_max_s)
        client.max_inflight_messages_set(b.max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        if self.inbox is not None:
            self.inbox.attach(client)
        if self.config.receipts.enabled:
            client.message_callback_add(
                wire.topic(self.device_id, wire.Kind.RECEIPT), self._on_receipt
            )
        return client

    def _status(self, state: Literal["online", "offline"]) -> bytes:
        status = wire.Status(
            device_id=self.device_id,
            state=state,
            at=wire.utcnow(),
            software=SOFTWARE,
            **self.status_extra,
        )
        return status.model_dump_json(exclude_none=True).encode()

    def start(self) -> None:
        """Start connecting in the background (retrying with back-off) and the delivery thread."""
        b = self.config.broker
        kwargs: dict[str, Any] = {}
        if b.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = b.session_expiry_s
            kwargs = {"clean_start": False, "properties": props}
        log.info("connecting to %s as %s", b.masked_url(), self.config.client_id)
        self.client.connect_async(b.host, b.port, keepalive=b.keepalive_s, **kwargs)
        self.client.loop_start()
        self._pump = threading.Thread(target=self._pump_loop, name="outbox-pump", daemon=True)
        self._pump.start()

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any
    ) -> None:
        if rc.is_failure:
            text = str(rc)
            if refusal_is_final(rc):
                self.fatal = (
                    f"the broker {self.config.broker.masked_url()} refused the connection: "
                    f"{text} (not authorised: check broker.username / broker.password)"
                )
                log.error("%s", self.fatal)
                client.disconnect()
                self._wake.set()
            else:
                log.warning("broker refused the connection: %s; retrying", text)
            return
        self.connects += 1
        self.attempts = 0
        self.disconnected_since = None
        log.info(
            "connected to %s (session %s)",
            self.config.broker.masked_url(),
            "resumed" if flags.session_present else "new",
        )
        self.confirmations.reconnected()
        topics = list(self.inbox.topics()) if self.inbox is not None else []
        if self.config.receipts.enabled:
            topics.append(wire.topic(self.device_id, wire.Kind.RECEIPT))
        for topic in topics:
            client.subscribe(topic, qos=1)
        self._send(wire.topic(self.device_id, wire.Kind.STATUS), self._status("online"), 1, True)
        self.connected.set()
        self._wake.set()

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        self.attempts += 1
        b = self.config.broker
        # paho does not pass the exception on; with TLS a refused handshake looks the same.
        hint = " (or the TLS handshake failed: check broker.tls.ca_file and the host name)"
        log.warning(
            "cannot reach the broker at %s:%d (attempt %d)%s; retrying with back-off up to %ds",
            b.host,
            b.port,
            self.attempts,
            hint if b.use_tls else "",
            b.reconnect_max_s,
        )

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if self.connected.is_set():
            self.disconnected_since = time.monotonic()
            if not self._stop.is_set():
                log.warning("disconnected from the broker (%s); samples wait in the outbox", rc)
        self.connected.clear()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._lock:
            if mid not in self._pending:
                self._early[mid] = rc
                return
            sample_id = self._pending.pop(mid)
        self._acked(sample_id, rc)

    def _on_receipt(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            receipt = wire.decode_json_message(
                wire.Kind.RECEIPT, bytes(msg.payload), device_id=self.device_id
            )
        except wire.WireError as exc:
            log.warning("ignored a bad receipt: %s", exc)
            return
        assert isinstance(receipt, wire.Receipt)
        try:
            self.confirmations.receipt(receipt)
        except OutboxError as exc:  # the rows stay; the next receipt or re-send deletes them
            log.error("%s", exc)
        self._wake.set()

    # -- publishing ----------------------------------------------------------------------------

    def _send(
        self, topic: str, payload: bytes, qos: int, retain: bool, sample_id: str | None = None
    ) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._pending[info.mid] = sample_id
        if early is not None:
            self._acked(sample_id, early)
        return info

    def _acked(self, sample_id: str | None, rc: ReasonCode) -> None:
        if sample_id is None:
            return
        if rc.is_failure:
            # MQTT 5 brokers can refuse one message (e.g. not authorised for the topic): keep it.
            log.error("broker refused sample %s: %s; it stays in the outbox", sample_id, rc)
            self.outbox.release(sample_id)
            return
        self.confirmations.acknowledged(sample_id)
        self._wake.set()

    @property
    def sent(self) -> int:
        """Samples confirmed by the collector's receipt (by the PUBACK with receipts off)."""
        return self.confirmations.confirmed

    def wake(self) -> None:
        """Tell the delivery thread that the outbox has something new."""
        self._wake.set()

    def _pump_loop(self) -> None:
        next_stats = time.monotonic() + min(2.0, self.config.run.stats_interval_s)
        topic = wire.topic(self.device_id, wire.Kind.SAMPLE)
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                now = time.monotonic()
                if self.stats and now >= next_stats and self.connected.is_set():
                    next_stats = now + self.config.run.stats_interval_s
                    self.publish_stats()
                if not self.connected.is_set() or self.paused or self.fatal:
                    continue
                self.confirmations.resend_due()
                for item in self.outbox.next_batch(self._room()):
                    self.id_log.write("pub", item.sample_id)
                    self._send(topic, item.payload, 1, False, item.sample_id)
            except Exception:  # the delivery thread must survive anything; the outbox keeps rows
                log.exception("delivery loop error; retrying")
                time.sleep(1.0)

    def _room(self) -> int:
        """How many samples may be handed to MQTT now: at most ``broker.max_inflight`` without
        a PUBACK, and ``receipts.max_unconfirmed`` without a receipt."""
        handed_out = self.outbox.inflight
        waiting = self.confirmations.waiting()
        no_puback = max(0, handed_out - waiting)
        return min(
            self.config.broker.max_inflight - no_puback,
            self.config.receipts.max_unconfirmed - handed_out,
        )

    def publish_status(self) -> None:
        """Re-publish the retained ``online`` status (e.g. after the model changed)."""
        if self.connected.is_set():
            self._send(
                wire.topic(self.device_id, wire.Kind.STATUS), self._status("online"), 1, True
            )

    def publish_stats(self) -> None:
        """Publish one stats message now (QoS 0, not retained)."""
        if self.stats is None:
            return
        payload = self.stats().model_dump_json(exclude_none=True).encode()
        self._send(wire.topic(self.device_id, wire.Kind.STATS), payload, 0, False)

    # -- shutdown ------------------------------------------------------------------------------

    def flush(self, timeout: float, *, drain: bool = False) -> bool:
        """Wait until nothing is in flight, i.e. without a receipt (or, with ``drain``, the
        outbox is empty)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.fatal:
            if (self.outbox.depth if drain else self.outbox.inflight) == 0:
                return True
            time.sleep(0.05)
        return (self.outbox.depth if drain else self.outbox.inflight) == 0

    def stop(self, timeout: float = 5.0) -> None:
        """Publish status offline (retained), disconnect and stop the threads."""
        self._stop.set()
        self._wake.set()
        if self._pump is not None:
            self._pump.join(timeout)
        if self.connected.is_set():
            if self.stats is not None:
                self.publish_stats()
            info = self._send(
                wire.topic(self.device_id, wire.Kind.STATUS), self._status("offline"), 1, True
            )
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("could not publish status offline; the last will covers it")
            self.client.disconnect()
        self.client.loop_stop()
