"""The device registry, kept from the status (retained, last will) and stats messages."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from facetrove.wire import Stats, Status


def apply_update(db: sqlite_utils.Database, message: Status | Stats, received_at: str) -> None:
    """Record a status or stats message in ``devices``. Call inside a transaction.

    A retained status replayed by the broker after a restart carries its original ``at``; it
    never moves ``last_seen`` backwards.
    """
    device_id = message.device_id
    db.conn.execute(
        "INSERT INTO devices (id, first_seen, last_seen, samples) VALUES (?, ?, ?, 0) "
        "ON CONFLICT(id) DO UPDATE SET "
        "last_seen = MAX(COALESCE(last_seen, ''), excluded.last_seen)",
        (device_id, received_at, received_at),
    )
    if isinstance(message, Status):
        fields: dict[str, Any] = {"state": message.state}
        for name in ("software", "model_id", "detector", "source"):
            value = getattr(message, name)
            if value is not None:
                fields[name] = value
    else:
        fields = {"stats": message.model_dump_json()}
        if message.model_id is not None:
            fields["model_id"] = message.model_id
        # A device that sends stats is alive even if its retained status was lost.
        fields["state"] = "online"
    assignments = ", ".join(f"{name} = ?" for name in fields)
    db.conn.execute(f"UPDATE devices SET {assignments} WHERE id = ?", [*fields.values(), device_id])


def list_devices(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """All known devices, most recently seen first."""
    cur = db.conn.execute("SELECT * FROM devices ORDER BY last_seen DESC, id")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
