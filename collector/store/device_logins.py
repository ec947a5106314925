"""The device registry's logins: one MQTT username per device, stored as a password hash.

The username is the device id (topic rights are granted per username, see
collector/identity/rules.py). A revoked login keeps its row, with ``revoked_at`` set, so
``device list`` shows what was revoked and when.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils


class LoginExists(ValueError):
    """The device already has an active login."""


class NoSuchLogin(LookupError):
    """No login (active or revoked) has that device id."""


@dataclass(frozen=True)
class DeviceLogin:
    """One row of ``device_logins`` with what ingest knows of the device."""

    device_id: str
    password_hash: str
    created_at: str
    revoked_at: str | None
    last_seen: str | None = None
    samples: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def add_login(
    db: sqlite_utils.Database,
    device_id: str,
    password_hash: str,
    now: str,
    *,
    replace: bool = False,
) -> None:
    """Create the login of ``device_id`` (or re-create a revoked one with a new password);
    ``replace`` also replaces an active one (its old password stops working).

    Raises:
        LoginExists: the device already has an active login (and not ``replace``).
    """
    with db.conn:
        row = db.conn.execute(
            "SELECT revoked_at FROM device_logins WHERE device_id = ?", [device_id]
        ).fetchone()
        if row is not None and row[0] is None and not replace:
            raise LoginExists(device_id)
        db.conn.execute(
            "INSERT INTO device_logins (device_id, password_hash, created_at, revoked_at) "
            "VALUES (?, ?, ?, NULL) ON CONFLICT(device_id) DO UPDATE SET "
            "password_hash = excluded.password_hash, created_at = excluded.created_at, "
            "revoked_at = NULL",
            [device_id, password_hash, now],
        )


def revoke_login(db: sqlite_utils.Database, device_id: str, now: str) -> bool:
    """Revoke the login of ``device_id``; False if it was already revoked.

    Raises:
        NoSuchLogin: the device never had a login.
    """
    with db.conn:
        row = db.conn.execute(
            "SELECT revoked_at FROM device_logins WHERE device_id = ?", [device_id]
        ).fetchone()
        if row is None:
            raise NoSuchLogin(device_id)
        if row[0] is not None:
            return False
        db.conn.execute(
            "UPDATE device_logins SET revoked_at = ? WHERE device_id = ?", [now, device_id]
        )
    return True


def active_hashes(db: sqlite_utils.Database) -> dict[str, str]:
    """device id -> password hash of every active login."""
    rows = db.conn.execute(
        "SELECT device_id, password_hash FROM device_logins WHERE revoked_at IS NULL"
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def active_hash(db: sqlite_utils.Database, device_id: str) -> str | None:
    """The password hash of ``device_id`` if its login is active."""
    row = db.conn.execute(
        "SELECT password_hash FROM device_logins WHERE device_id = ? AND revoked_at IS NULL",
        [device_id],
    ).fetchone()
    return None if row is None else str(row[0])


def list_logins(db: sqlite_utils.Database) -> list[DeviceLogin]:
    """Every login, active first, then by device id; with last_seen and samples from ingest."""
    rows = db.conn.execute(
        "SELECT l.device_id, l.password_hash, l.created_at, l.revoked_at, d.last_seen, "
        "d.samples FROM device_logins l LEFT JOIN devices d ON d.id = l.device_id "
        "ORDER BY l.revoked_at IS NOT NULL, l.device_id"
    ).fetchall()
    return [DeviceLogin(*row) for row in rows]
