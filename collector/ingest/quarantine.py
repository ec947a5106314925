"""The bounded quarantine: rejected messages kept so an operator can see what a device sent.

Rows are pruned oldest first beyond a configured count; the per-reason counters in ``counters``
(``rejected.<reason>``) stay exact however many rows are pruned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlite_utils

from facetrove.collector.ingest.validate import Rejected

COUNTER_PREFIX = "rejected."


def add_rejections(
    db: sqlite_utils.Database,
    rejected: Iterable[Rejected],
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
    db: sqlite_utils.Database, *, limit: int = 50, reason: str | None = None
) -> list[dict[str, Any]]:
    """The newest quarantined messages first, optionally of one reason."""
    sql = "SELECT * FROM quarantine"
    params: list[Any] = []
    if reason:
        sql += " WHERE reason = ?"
        params.append(reason)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    cur = db.conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def rejection_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Exact number of rejected messages per reason since the store was created."""
    rows = db.conn.execute(
        "SELECT name, value FROM counters WHERE name LIKE ? ORDER BY name", (COUNTER_PREFIX + "%",)
    ).fetchall()
    return {name[len(COUNTER_PREFIX) :]: int(value) for name, value in rows}
