"""Provisioning device logins: ``device add`` / ``list`` / ``revoke`` over the store's registry."""

from __future__ import annotations

from datetime import datetime, timezone

from facetrove.collector.identity.passwords import hash_password, new_password
from facetrove.collector.identity.rules import RESERVED_PREFIX
from facetrove.collector.store import device_logins
from facetrove.collector.store.db import Database
from facetrove.collector.store.device_logins import DeviceLogin
from facetrove.wire import check_device_id


class DeviceRegistryError(ValueError):
    """A device request that cannot be carried out; the message is for the user."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_name(name: str, reserved: tuple[str, ...] = ()) -> str:
    """``name`` if it can be a device login, else ``DeviceRegistryError`` naming the rule."""
    try:
        check_device_id(name)
    except ValueError as exc:
        raise DeviceRegistryError(str(exc)) from None
    if name.startswith(RESERVED_PREFIX) or name in reserved:
        raise DeviceRegistryError(
            f"{name!r} is reserved for the collector's own logins and client ids "
            f"(names starting with {RESERVED_PREFIX!r}, {', '.join(reserved) or 'none'})"
        )
    return name


def add_device(
    db: Database, name: str, reserved: tuple[str, ...] = (), *, replace: bool = False
) -> str:
    """Create a login for device ``name``; returns its password (shown once, stored hashed).
    ``replace`` gives a device that has one a new password (the old one stops working).

    Raises:
        DeviceRegistryError: bad or reserved name, or the device already has a login.
    """
    check_name(name, reserved)
    password = new_password()
    try:
        device_logins.add_login(db, name, hash_password(password), _now(), replace=replace)
    except device_logins.LoginExists:
        raise DeviceRegistryError(
            f"device {name!r} already has a login; `device add {name} --replace` gives it a "
            "new password (the old one stops working)"
        ) from None
    return password


def revoke_device(db: Database, name: str) -> bool:
    """Revoke ``name``'s login; False if it was already revoked.

    Raises:
        DeviceRegistryError: the device never had a login.
    """
    try:
        return device_logins.revoke_login(db, name, _now())
    except device_logins.NoSuchLogin:
        known = [d.device_id for d in device_logins.list_logins(db) if d.active]
        raise DeviceRegistryError(
            f"no device login {name!r} (active: {', '.join(known) or 'none'})"
        ) from None


def list_devices(db: Database) -> list[DeviceLogin]:
    """Every device login, active first."""
    return device_logins.list_logins(db)
