"""Logins and topic rights in the embedded broker (amqtt plugins).

``LoginPlugin`` accepts the collector's own logins (argon2 hashes in ``<data_dir>/broker/passwd``)
and device logins from the store's registry (``device_logins``, read at every connect, so a
revoked device is refused at once). It marks each session with its role; ``DurableBroker``
then applies the table in ``collector/identity/rules.py`` to every publish, subscribe and
delivery. ``watch_revocations`` disconnects a device whose login is revoked while connected.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.plugins.base import BaseAuthPlugin
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

from facetrove.collector.identity.passwords import verify_password
from facetrove.collector.identity.rules import Role
from facetrove.collector.store import device_logins
from facetrove.collector.store.db import StoreError, connect

log = logging.getLogger("facetrove.broker")
ROLE_ATTR = "facetrove_role"
HASH_ATTR = "facetrove_login_hash"


def role_of(session: Any) -> Role | None:
    """The role ``LoginPlugin`` gave this session (None: not authenticated)."""
    role = getattr(session, ROLE_ATTR, None)
    return role if isinstance(role, Role) else None


class Registry:
    """Read access to the device logins in the collector's store (one connection, reused)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._db: Any = None

    def _open(self) -> Any:
        if self._db is None:
            self._db = connect(self.db_path, migrate_schema=False)
        return self._db

    def active_hash(self, device_id: str) -> str | None:
        try:
            return device_logins.active_hash(self._open(), device_id)
        except StoreError as exc:
            log.error("device registry %s: %s; refusing device logins", self.db_path, exc)
            return None

    def active(self) -> dict[str, str] | None:
        try:
            return device_logins.active_hashes(self._open())
        except StoreError as exc:
            log.error("device registry %s: %s", self.db_path, exc)
            return None


def _collector_users(password_file: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for line in Path(password_file).read_text(encoding="utf-8").splitlines():
        name, sep, hashed = line.strip().partition(":")
        if sep and name and not name.startswith("#"):
            users[name] = hashed
    return users


class LoginPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Collector logins from the password file, device logins from the registry."""

    @dataclass
    class Config:
        password_file: str
        registry_db: str | None = None

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._collector = _collector_users(self.config.password_file)
        self._hasher = PasswordHash((Argon2Hasher(),))
        db = self.config.registry_db
        self._registry = Registry(Path(db)) if db else None

    def _check(self, username: str, password: str) -> tuple[Role | None, str | None]:
        stored = self._collector.get(username)
        if stored is not None:
            try:
                ok = self._hasher.verify(password, stored)
            except UnknownHashError:
                ok = False
            return (Role.COLLECTOR, stored) if ok else (None, None)
        if self._registry is None:
            return None, None
        device_hash = self._registry.active_hash(username)
        if device_hash is not None and verify_password(password, device_hash):
            return Role.DEVICE, device_hash
        return None, None

    async def authenticate(self, *, session: Any) -> bool | None:
        username, password = session.username, session.password
        if not username or password is None:
            setattr(session, ROLE_ATTR, None)
            return False
        role, hashed = await asyncio.to_thread(self._check, str(username), str(password))
        # Set only now: amqtt re-authenticates a resumed session while messages for it are
        # being queued, and a role of None in between would have them dropped, not queued.
        setattr(session, ROLE_ATTR, role)
        setattr(session, HASH_ATTR, hashed)
        return role is not None


async def watch_revocations(broker: Any, db_path: Path, interval: float = 1.0) -> None:
    """Every ``interval`` s: drop the sessions (connected or not) of revoked device logins."""
    registry = Registry(db_path)
    while True:
        await asyncio.sleep(interval)
        active = await asyncio.to_thread(registry.active)
        if active is None:
            continue
        for client_id, (session, handler) in list(broker._sessions.items()):
            if role_of(session) is not Role.DEVICE:
                continue
            if active.get(session.username) == getattr(session, HASH_ATTR, None):
                continue  # still the login it authenticated with
            log.warning("device %s: login revoked, disconnecting", session.username)
            try:
                if session.transitions.is_connected():
                    await handler.handle_connection_closed()
                    await handler.stop()
            finally:
                await broker._delete_session(client_id)
