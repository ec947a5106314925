"""The collector's own logins on the embedded broker, generated once per data folder.

``<data_dir>/broker/passwd`` holds argon2 hashes in amqtt's password-file format
(``user:hash`` per line); ``credentials.json`` (mode 0600) keeps the plain passwords so that
``serve`` and the web app can log in. Every client gets a username: amqtt
with anonymous access drops persistent sessions and their queued messages.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


@dataclass(frozen=True)
class Credentials:
    """The broker users and where their hashes live."""

    users: dict[str, str]  # username -> password
    password_file: Path

    def password(self, user: str) -> str:
        return self.users[user]


def ensure_credentials(data_dir: Path, usernames: tuple[str, ...]) -> Credentials:
    """Load the broker users from ``data_dir/broker``, creating missing ones with new passwords."""
    folder = data_dir / "broker"
    folder.mkdir(parents=True, exist_ok=True)
    plain_file = folder / "credentials.json"
    users: dict[str, str] = {}
    if plain_file.exists():
        users = {str(k): str(v) for k, v in json.loads(plain_file.read_text()).items()}
    # Only the collector's own logins live here; devices have theirs in the registry. A login
    # no longer asked for (the shared "agent" login of earlier versions) is dropped.
    changed = any(name not in usernames for name in users)
    users = {name: pw for name, pw in users.items() if name in usernames}
    for name in usernames:
        if name not in users:
            users[name] = secrets.token_urlsafe(18)
            changed = True
    password_file = folder / "passwd"
    if changed or not password_file.exists():
        hasher = PasswordHash((Argon2Hasher(),))
        _write_private(plain_file, json.dumps(users, indent=2) + "\n")
        lines = [f"{name}:{hasher.hash(pw)}" for name, pw in sorted(users.items())]
        _write_private(password_file, "\n".join(lines) + "\n")
    return Credentials(users=users, password_file=password_file)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
