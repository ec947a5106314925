"""Which published samples still wait for the collector's receipt, and which are due again.

A broker's PUBACK is not durability (a broker that crashes loses what it acknowledged), so a
sample stays in the outbox until a receipt from the collector names it (docs/protocol.md,
Receipt). This tracker, in memory, decides when a sample without a receipt is published again:

- its receipt is overdue: ``timeout_s`` after the PUBACK, doubling with every attempt up to
  ``backoff_max_s``;
- and the collector showed a sign of life since it was published (a receipt for any sample came,
  or the agent reconnected to the broker, which may have lost its queue), or it is overdue by
  ``backoff_max_s`` anyway;
- or at once, whatever its back-off, when the collector says it has just (re)subscribed
  (``Receipt.subscribed``): a restarted embedded broker drops what it acknowledged before ingest
  subscribed, and an idle collector would otherwise send no receipt to wake the agent.

The second rule keeps an agent from filling a healthy broker's queue with copies while ingest is
down: the broker still holds the first copy, and no receipt comes for anything. A restart of the
agent re-sends everything in the outbox once, which the collector answers for what it holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from facetrove import wire
from facetrove.agent.config import ReceiptConfig
from facetrove.agent.delivery.outbox import Outbox
from facetrove.agent.delivery.stats import IdLog

log = logging.getLogger(__name__)


@dataclass
class _Waiting:
    published: float  # when the PUBACK came
    deadline: float  # when the receipt is overdue


class AwaitingReceipts:
    """Samples acknowledged by the broker and not yet confirmed by the collector. Not
    thread-safe: the publisher calls it under its own lock."""

    def __init__(
        self,
        timeout_s: float,
        backoff_max_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s, self.backoff_max_s, self._clock = timeout_s, backoff_max_s, clock
        self._waiting: dict[str, _Waiting] = {}
        self._attempts: dict[str, int] = {}
        self._alive_at = float("-inf")
        self.resent = 0

    def published(self, sample_id: str) -> None:
        """The broker acknowledged ``sample_id``: its receipt is due after the current wait."""
        now = self._clock()
        attempt = self._attempts.get(sample_id, 0) + 1
        self._attempts[sample_id] = attempt
        wait = min(self.timeout_s * 2 ** (attempt - 1), self.backoff_max_s)
        self._waiting[sample_id] = _Waiting(now, now + wait)

    def confirmed(self, sample_ids: Iterable[str]) -> None:
        """A receipt came (the collector is alive); forget these samples."""
        self._alive_at = self._clock()
        for sid in sample_ids:
            self._waiting.pop(sid, None)
            self._attempts.pop(sid, None)

    def reconnected(self) -> None:
        """A new broker connection: the broker may have lost what it had acknowledged."""
        self._alive_at = self._clock()

    def collector_subscribed(self) -> None:
        """Ingest (re)subscribed: everything still waiting is due now, whatever its back-off."""
        now = self._alive_at = self._clock()
        for w in self._waiting.values():
            w.deadline = min(w.deadline, now)

    def forget(self, sample_id: str) -> None:
        """The sample left the outbox some other way (dropped by a limit)."""
        self._waiting.pop(sample_id, None)
        self._attempts.pop(sample_id, None)

    def due(self) -> list[str]:
        """Samples to publish again now; they no longer count as waiting."""
        now = self._clock()
        out = [
            sid
            for sid, w in self._waiting.items()
            if now >= w.deadline
            and (self._alive_at > w.published or now - w.published >= self.backoff_max_s)
        ]
        for sid in out:
            del self._waiting[sid]
        self.resent += len(out)
        return out

    def attempts(self, sample_id: str) -> int:
        """How often ``sample_id`` has been acknowledged by the broker so far."""
        return self._attempts.get(sample_id, 0)

    def __len__(self) -> int:
        return len(self._waiting)


class Confirmations:
    """Deletes outbox rows on the collector's receipts and hands overdue ones out again.

    With receipts off (``receipts.enabled: false``) a PUBACK deletes the row, as before receipts
    existed. Safe to call from paho's network thread and the delivery thread.
    """

    def __init__(self, outbox: Outbox, config: ReceiptConfig, id_log: IdLog) -> None:
        self.outbox, self.config, self.id_log = outbox, config, id_log
        self.awaiting = AwaitingReceipts(config.timeout_s, config.backoff_max_s)
        self.confirmed = 0  # samples the collector confirmed stored (or the broker, receipts off)
        self.refused = 0  # samples the collector refused for good (quarantined)
        self.last_stored_at: float | None = None  # Unix time of the latest confirmation
        self._lock = threading.Lock()

    def acknowledged(self, sample_id: str) -> None:
        """The broker's PUBACK for ``sample_id``."""
        self.id_log.write("ack", sample_id)
        if not self.config.enabled:
            self._delete([sample_id], quarantined=False)
            return
        with self._lock:
            self.awaiting.published(sample_id)

    def receipt(self, receipt: wire.Receipt) -> None:
        """A receipt from the collector: delete what it names."""
        with self._lock:
            self.awaiting.confirmed([*receipt.stored, *receipt.quarantined])
            if receipt.subscribed:
                self.awaiting.collector_subscribed()
        self._delete(receipt.stored, quarantined=False)
        refused = self._delete(list(receipt.quarantined), quarantined=True)
        for sid in refused:
            reason = receipt.quarantined[sid]
            log.warning("the collector refused sample %s for good (%s); deleted", sid, reason)

    def reconnected(self) -> None:
        """A new broker connection (which may have lost what it acknowledged)."""
        with self._lock:
            self.awaiting.reconnected()

    def resend_due(self) -> int:
        """Hand out again the samples whose receipt is overdue; returns how many."""
        with self._lock:
            due = self.awaiting.due()
        again = 0
        for sid in due:
            if self.outbox.release(sid):
                again += 1
                self.id_log.write("resend", sid)
            else:  # it left the outbox meanwhile (an outbox limit, or a receipt just now)
                with self._lock:
                    self.awaiting.forget(sid)
        if again:
            log.info(
                "%d sample(s) without the collector's receipt after %gs or more: sending again",
                again,
                self.config.timeout_s,
            )
        return again

    def waiting(self) -> int:
        """Samples acknowledged by the broker and waiting for their receipt."""
        with self._lock:
            return len(self.awaiting)

    def _delete(self, ids: list[str], *, quarantined: bool) -> list[str]:
        if not ids:
            return []
        gone = self.outbox.confirm(ids, quarantined=quarantined)
        event = "refuse" if quarantined else "confirm"
        for sid in gone:
            self.id_log.write(event, sid)
        with self._lock:
            if quarantined:
                self.refused += len(gone)
            elif gone:
                self.confirmed += len(gone)
                self.last_stored_at = time.time()
        return gone
