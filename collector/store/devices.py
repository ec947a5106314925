"""The device registry: kept from the status (retained, last will) and stats messages by ingest,
read by the web app and the CLI, and holding each device's run-time config set from the web."""

from __future__ import annotations

from typing import Any

from facetrove.collector.store.db import Database, audit, dict_rows, write_transaction
from facetrove.wire import Stats, Status


def apply_update(db: Database, message: Status | Stats, received_at: str) -> None:
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
        if message.model_error is not None:
            fields["model_error"] = message.model_error or None
    else:
        fields = {"stats": message.model_dump_json()}
        if message.model_id is not None:
            fields["model_id"] = message.model_id
        # A device that sends stats is alive even if its retained status was lost.
        fields["state"] = "online"
    assignments = ", ".join(f"{name} = ?" for name in fields)
    db.conn.execute(f"UPDATE devices SET {assignments} WHERE id = ?", [*fields.values(), device_id])


def list_devices(db: Database) -> list[dict[str, Any]]:
    """All known devices, most recently seen first."""
    return dict_rows(db.conn.execute("SELECT * FROM devices ORDER BY last_seen DESC, id"))


def devices_online_first(db: Database) -> list[dict[str, Any]]:
    """All known devices, online ones first, then by id (the Devices page's order)."""
    return dict_rows(db.conn.execute("SELECT * FROM devices ORDER BY state = 'online' DESC, id"))


def device_ids(db: Database) -> list[str]:
    """Every known device id, sorted."""
    return [r[0] for r in db.execute("SELECT id FROM devices ORDER BY id").fetchall()]


def get_device(db: Database, device_id: str) -> dict[str, Any] | None:
    """The row of one device, or ``None`` if no such device was seen."""
    rows = dict_rows(db.conn.execute("SELECT * FROM devices WHERE id = ?", [device_id]))
    return rows[0] if rows else None


class NoSuchDevice(LookupError):
    """No device with that id was ever seen."""


def device_config(db: Database, device_id: str) -> str | None:
    """The JSON of the config last saved for a device (``None`` if none yet).

    Raises:
        NoSuchDevice: the device is unknown.
    """
    row = db.execute("SELECT config FROM devices WHERE id = ?", [device_id]).fetchone()
    if row is None:
        raise NoSuchDevice(f"no device {device_id!r}")
    return row[0]  # type: ignore[no-any-return]


def saved_configs(db: Database) -> list[tuple[str, str]]:
    """(device id, config JSON) of every device with a saved config, by id."""
    cur = db.execute("SELECT id, config FROM devices WHERE config IS NOT NULL ORDER BY id")
    return [(str(r[0]), str(r[1])) for r in cur.fetchall()]


def save_config(db: Database, device_id: str, payload: str, revision: int, user_id: int) -> None:
    """Store a device's new config JSON and its revision, with an audit row, in one commit."""
    with write_transaction(db):
        db.execute(
            "UPDATE devices SET config = ?, config_revision = ? WHERE id = ?",
            [payload, revision, device_id],
        )
        audit(db, user_id, "device.config", device_id, payload)
