"""The bounded quarantine: rejected messages kept so an operator can see what a device sent.

Rows are pruned oldest first beyond a configured count; the per-reason counters in ``counters``
(``rejected.<reason>``) stay exact however many rows are pruned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from facetrove.collector.store.db import Database, dict_rows
from facetrove.collector.store.stats import counters

COUNTER_PREFIX = "rejected."


class RejectedMessage(Protocol):
    """What the quarantine keeps of a message ingest refused (``ingest.validate.Rejected``)."""

    @property
    def topic(self) -> str: ...
    @property
    def device_id(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def payload(self) -> bytes: ...


def add_rejections(
    db: Database,
    rejected: Iterable[RejectedMessage],
    received_at: str,
    *,
    head_bytes: int,
    max_rows: int,
) -> dict[str, int]:
    """Store rejected messages and prune beyond ``max_rows``. Call inside a transaction.

    Returns:
        Count per counter name (``rejected.<reason>``), for the caller to add to ``counters``.
    """
    counts: dict[str, int] = {}
    rows = []
    for item in rejected:
        counts[COUNTER_PREFIX + item.reason] = counts.get(COUNTER_PREFIX + item.reason, 0) + 1
        rows.append(
            (
                received_at,
                item.topic[:256],
                item.device_id,
                item.reason,
                item.detail[:1000],
                len(item.payload),
                bytes(item.payload[:head_bytes]),
            )
        )
    if max_rows > 0 and rows:
        db.conn.executemany(
            "INSERT INTO quarantine (received_at, topic, device_id, reason, detail, payload_len, "
            "payload_head) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows[-max_rows:],
        )
        db.conn.execute(
            "DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?", (max_rows,)
        )
    return counts


def list_quarantine(
    db: Database, *, limit: int = 50, reason: str | None = None
) -> list[dict[str, Any]]:
    """The newest quarantined messages first, optionally of one reason."""
    sql = "SELECT * FROM quarantine"
    params: list[Any] = []
    if reason:
        sql += " WHERE reason = ?"
        params.append(reason)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return dict_rows(db.conn.execute(sql, params))


def rejection_counts(db: Database) -> dict[str, int]:
    """Exact number of rejected messages per reason since the store was created."""
    found = counters(db, COUNTER_PREFIX)
    return {name[len(COUNTER_PREFIX) :]: value for name, value in found.items()}
