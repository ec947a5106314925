"""The ingest loop: paho with manual acknowledgement, a bounded queue and a batching writer.

paho's network thread validates each message and queues it; this module's ``run`` drains the
queue into batches, commits each (``Writer``) and only then acknowledges its messages. A message
that is never acknowledged (crash, disk full, shutdown mid-batch) is redelivered by the broker
to the same persistent session, and the idempotent insert makes the second copy harmless.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facetrove.collector.config import CollectorConfig
from facetrove.collector.config.broker import parse_broker_url
from facetrove.collector.ingest import announce
from facetrove.collector.ingest.isolation import commit_isolated
from facetrove.collector.ingest.receipts import receipts_for, subscribed_receipts
from facetrove.collector.ingest.validate import (
    DeviceUpdate,
    Outcome,
    Rejected,
    validate_message,
)
from facetrove.collector.ingest.writer import StorageError, Writer
from facetrove.collector.store import DB_NAME, BlobStore, StoreError, connect
from facetrove.collector.store.blobs import FileSystem
from facetrove.collector.store.integrity import open_checked
from facetrove.wire import Kind, Status, WireError, parse_topic, subscription
from facetrove.wire.messages import MAX_RECEIPT_IDS

log = logging.getLogger("facetrove.ingest")
REPORT_EVERY_S = 60
UNREACHABLE_LOG_EVERY = 12  # with paho's 1-5 s back-off: about once a minute


@dataclass(frozen=True)
class Delivery:
    """One validated message waiting for its commit and acknowledgement."""

    outcome: Outcome
    mid: int
    qos: int
    generation: int  # connection it arrived on: acks for an older connection are not sent
    retained: str | None = None  # a sample topic the broker keeps a retained copy on


@dataclass
class IngestStats:
    """Running totals of this process (the store's ``counters`` hold the durable ones)."""

    batches: int = 0
    stored: int = 0
    redelivered: int = 0
    rejected: int = 0
    storage_errors: int = 0
    receipts: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def broker_endpoint(config: CollectorConfig) -> tuple[str, int, str | None, str | None]:
    """Host, port, username and password of the broker ingest connects to."""
    b = config.broker
    if b.url:
        addr = parse_broker_url(b.url)
        return addr.host, addr.port, addr.username or b.username, addr.password or b.password
    return b.embedded_host, b.embedded_port, b.username, b.password


class IngestWorker:
    """Subscribes to samples, status and stats and commits them durably before acknowledging."""

    def __init__(
        self,
        config: CollectorConfig,
        *,
        fs: FileSystem | None = None,
        store_checked: bool = False,
    ) -> None:
        """``store_checked``: the caller ran ``check_store`` already (``run`` skips the check).

        ``run`` raises ``DamagedStore`` for a store that fails its check.
        """
        self.config = config
        self._store_checked = store_checked
        self.cfg = config.ingest
        self.stats = IngestStats()
        self._fs = fs
        self._limits = self.cfg.image_limits
        self._queue: queue.Queue[Delivery] = queue.Queue(maxsize=4 * self.cfg.batch_max)
        self._generation = 0
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self._hello_due = threading.Event()
        self._client: mqtt.Client | None = None
        self._endpoint = ""
        self._connect_failures = 0
        self._unanswered: list[Outcome] = []  # committed, receipt not sent yet
        self._receipts_at = 0.0

    def receipts_pending(self) -> int:
        """Committed messages whose receipt is not sent yet (for /metrics)."""
        return len(self._unanswered)

    def queued(self) -> int:
        """Messages received and waiting for their commit (for /metrics)."""
        return self._queue.qsize()

    # -- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _ud: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self._connect_failures = 0
        self._generation += 1
        group = self.cfg.shared_group
        topics = [(subscription(kind, group), kind.qos) for kind in Kind if _ingests(kind)]
        client.subscribe(topics)
        log.info(
            "connected (session present: %s), subscribing to %s",
            flags.session_present,
            ", ".join(t for t, _ in topics),
        )

    def _on_connect_fail(self, _c: mqtt.Client, _ud: Any) -> None:
        # Without this a wrong host or port looks like an idle ingest: paho retries silently.
        self._connect_failures += 1
        if self._connect_failures == 1 or self._connect_failures % UNREACHABLE_LOG_EVERY == 0:
            log.warning(
                "cannot reach the broker at %s (%d attempt(s)); retrying",
                self._endpoint,
                self._connect_failures,
            )

    def _on_subscribe(self, _c: mqtt.Client, _ud: Any, _mid: int, codes: Any, _p: Any) -> None:
        if any(code.is_failure for code in codes):
            log.error("broker refused a subscription: %s", codes)
            return
        log.info("subscribed")
        self.subscribed.set()
        self._hello_due.set()  # sent from the writer's thread, which owns the store

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not self._stop.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        sample_topic = _is_sample_topic(msg.topic)
        if sample_topic and not payload:
            # An empty message is how MQTT clears a retained one (ours, in _clear_retained):
            # it carries no sample, so there is nothing to store or quarantine.
            if msg.qos:
                client.ack(msg.mid, msg.qos)
            return
        try:
            outcome = validate_message(msg.topic, payload, self.cfg.max_payload_bytes, self._limits)
        except Exception as exc:  # a payload must never stop ingest nor stay unacknowledged
            log.exception("unexpected error validating a message on %r", msg.topic[:200])
            detail = f"{type(exc).__name__}: {exc}"[:500]
            outcome = Rejected(msg.topic, None, "internal", detail, payload)
        # Mosquitto keeps a sample a device published with the retain flag (the embedded broker
        # refuses it) and hands it to every new subscription: cleared once it is stored.
        retained = msg.topic if sample_topic and msg.retain else None
        delivery = Delivery(outcome, msg.mid, msg.qos, self._generation, retained)
        # A full queue blocks the network thread: TCP back-pressure instead of memory. A
        # message dropped here at shutdown was not acknowledged: the broker sends it again.
        while not self._stop.is_set():
            try:
                self._queue.put(delivery, timeout=0.5)
                return
            except queue.Full:
                continue

    # -- the writer loop (caller's thread) -----------------------------------------------

    def run(self, stop: threading.Event | None = None) -> IngestStats:
        """Connect, ingest until ``stop`` is set, flush what was received, disconnect."""
        stop = stop or threading.Event()
        data_dir = self.config.data_dir
        # Refuses a damaged store (DamagedStore) before anything, broker included, is touched.
        path = data_dir / DB_NAME
        db = connect(path) if self._store_checked else open_checked(path)
        writer = Writer(
            db,
            BlobStore(data_dir / "blobs"),
            quarantine_max_rows=self.cfg.quarantine_max_rows,
            quarantine_head_bytes=self.cfg.quarantine_head_bytes,
            fs=self._fs,
        )
        host, port, user, password = broker_endpoint(self.config)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.cfg.client_id,
            clean_session=False,  # the broker keeps our subscription and unacked samples
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if user:
            client.username_pw_set(user, password)
        if self.config.broker.url and parse_broker_url(self.config.broker.url).tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 5)
        self._client = client
        self._endpoint = f"{host}:{port}"
        log.info("ingest %s -> %s:%d, store %s", self.cfg.client_id, host, port, data_dir)
        client.connect_async(host, port, keepalive=self.cfg.keepalive_s)
        client.loop_start()
        try:
            next_report, reported = time.monotonic() + REPORT_EVERY_S, (0, 0)
            while not stop.is_set():
                batch = self._next_batch(stop)
                if batch:
                    self._commit_and_ack(writer, batch, stop)
                self._flush_receipts(writer, force=False)
                if self._hello_due.is_set():
                    self._hello_due.clear()
                    self._say_subscribed(client, writer)
                    announce.announce_all(writer.db, self.config, self._publish_model)
                    announce.announce_configs(writer.db, self._publish_config)
                if time.monotonic() >= next_report:
                    now = (self.stats.stored, self.stats.rejected)
                    if now != reported:
                        log.info(
                            "%d stored, %d rejected in the last %ds (%d redelivered copies "
                            "ignored since start)",
                            now[0] - reported[0],
                            now[1] - reported[1],
                            REPORT_EVERY_S,
                            self.stats.redelivered,
                        )
                    next_report, reported = time.monotonic() + REPORT_EVERY_S, now
            self._stop.set()
            # Flush what is already queued so a clean stop acknowledges all it received.
            rest = self._drain()
            if rest:
                self._commit_and_ack(writer, rest, None)
            self._flush_receipts(writer, force=True)
        finally:
            self._stop.set()
            client.disconnect()
            client.loop_stop()
            db.close()
        log.info(
            "ingest stopped: %d stored, %d redelivered, %d rejected, %d receipts",
            self.stats.stored,
            self.stats.redelivered,
            self.stats.rejected,
            self.stats.receipts,
        )
        return self.stats

    def _next_batch(self, stop: threading.Event) -> list[Delivery]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.cfg.batch_ms / 1000
        while len(batch) < self.cfg.batch_max and not stop.is_set():
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get_nowait()
                    if remaining <= 0
                    else self._queue.get(timeout=remaining)
                )
            except queue.Empty:
                break
        return batch

    def _drain(self) -> list[Delivery]:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _commit_and_ack(
        self, writer: Writer, batch: list[Delivery], stop: threading.Event | None
    ) -> None:
        delay = 0.5
        while True:
            received_at = datetime.now(timezone.utc).isoformat()
            try:
                result = commit_isolated(writer, [d.outcome for d in batch], received_at)
                break
            except StorageError as exc:
                self.stats.storage_errors += 1
                log.error(
                    "%s%s; %d messages NOT acknowledged, retrying in %.1fs",
                    "DISK FULL: " if exc.disk_full else "",
                    exc,
                    len(batch),
                    delay,
                )
                if stop is None or stop.wait(delay):
                    log.warning(
                        "stopping with %d uncommitted messages: broker redelivers", len(batch)
                    )
                    return
                delay = min(delay * 2, self.cfg.backoff_max_s)
        client = self._client
        for d in batch:
            if d.qos > 0 and client is not None and d.generation == self._generation:
                client.ack(d.mid, d.qos)
        if client is not None:
            for name in {d.retained for d in batch if d.retained}:
                client.publish(name, b"", qos=1, retain=True)
        if self.cfg.receipts:
            # Committed: answered soon, several batches in one receipt per device (a receipt
            # per small batch cost ingest about 15% at a few hundred samples/s).
            self._unanswered += [
                d.outcome for d in batch if not isinstance(d.outcome, DeviceUpdate)
            ]
        updates = [d.outcome.message for d in batch if isinstance(d.outcome, DeviceUpdate)]
        statuses = [m for m in updates if isinstance(m, Status)]
        if statuses:
            announce.converge(writer.db, self.config, statuses, self._publish_model)
        self.stats.batches += 1
        self.stats.stored += result.stored
        self.stats.redelivered += result.redelivered
        for reason, n in result.rejected.items():
            self.stats.rejected += n
            self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + n
        for d in batch:
            if isinstance(d.outcome, Rejected):
                log.debug(
                    "rejected %s: %s %s", d.outcome.topic[:120], d.outcome.reason, d.outcome.detail
                )

    def _flush_receipts(self, writer: Writer, *, force: bool) -> None:
        """Publish the receipts of committed batches not answered yet: every
        ``ingest.receipt_ms``, when ``MAX_RECEIPT_IDS`` wait, or now with ``force``."""
        if not self._unanswered or self._client is None:
            return
        now = time.monotonic()
        due = now >= self._receipts_at or len(self._unanswered) >= MAX_RECEIPT_IDS
        if not (force or due):
            return
        outcomes, self._unanswered = self._unanswered, []
        self._receipts_at = now + self.cfg.receipt_ms / 1000
        try:
            receipts = receipts_for(writer.db, outcomes)
        except StoreError as exc:  # the agents send again later and get their receipt then
            log.error("could not read back committed samples for their receipts: %s", exc)
            return
        for name, payload in receipts:
            self._client.publish(name, payload, qos=1)
        self.stats.receipts += len(receipts)

    def _publish_model(self, topic: str, payload: bytes) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, qos=Kind.MODEL.qos, retain=Kind.MODEL.retain)

    def _publish_config(self, topic: str, payload: bytes) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, qos=Kind.CONFIG.qos, retain=Kind.CONFIG.retain)

    def _say_subscribed(self, client: mqtt.Client, writer: Writer) -> None:
        if not self.cfg.receipts:
            return
        try:
            hellos = subscribed_receipts(writer.db)
        except StoreError as exc:  # agents fall back on their back-off
            log.error("could not list the devices to tell them ingest is back: %s", exc)
            return
        for name, payload in hellos:
            client.publish(name, payload, qos=1)


def _is_sample_topic(name: str) -> bool:
    try:
        return parse_topic(name)[1] is Kind.SAMPLE
    except WireError:
        return False


def _ingests(kind: Kind) -> bool:
    return kind in (Kind.SAMPLE, Kind.STATUS, Kind.STATS)
