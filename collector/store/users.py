"""Accounts of the review web app: password hashes, roles and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from werkzeug.security import check_password_hash, generate_password_hash

from facetrove.collector.store.db import Database, audit, write_transaction

ROLES = ("admin", "reviewer")
MIN_PASSWORD = 8


class UserError(ValueError):
    """A request about accounts that cannot be carried out (message is for the user)."""


class NoSuchUser(UserError):
    """No account has that name or id."""


@dataclass(frozen=True)
class User:
    """One account; ``is_admin`` decides who may change settings, devices and classes."""

    id: int
    username: str
    role: str
    active: bool
    created_at: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _row_user(row: dict[str, object]) -> User:
    return User(
        id=int(row["id"]),  # type: ignore[call-overload]
        username=str(row["username"]),
        role=str(row["role"]),
        active=bool(row["active"]),
        created_at=str(row["created_at"]),
    )


def create_user(db: Database, username: str, password: str, role: str) -> User:
    """Create an account. Raises ``UserError`` for a taken name, bad role or short password."""
    username = username.strip()
    if not username or len(username) > 64 or not username.isprintable():
        raise UserError("username must be 1-64 printable characters")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")
    if db.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
        raise UserError(f"user {username!r} already exists")
    with write_transaction(db):
        cur = db.execute(
            "INSERT INTO users (username, password_hash, role, created_at, active) "
            "VALUES (?, ?, ?, ?, 1)",
            [username, generate_password_hash(password), role, _now()],
        )
        user_id = int(cur.lastrowid or 0)
        audit(db, None, "user.add", username, role)
    return get_user(db, user_id)


def get_user(db: Database, user_id: int) -> User:
    """The account with this id. Raises ``NoSuchUser``."""
    rows = list(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
    if not rows:
        raise NoSuchUser(f"no user with id {user_id}")
    return _row_user(rows[0])


def find_user(db: Database, username: str) -> User:
    """The account with this name. Raises ``NoSuchUser``."""
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [username]))
    if not rows:
        raise NoSuchUser(f"no user named {username!r}")
    return _row_user(rows[0])


def list_users(db: Database) -> list[User]:
    """Every account, by name."""
    return [_row_user(r) for r in db.query("SELECT * FROM users ORDER BY username")]


def authenticate(db: Database, username: str, password: str) -> User | None:
    """The active account whose password matches, else ``None`` (same answer for both cases)."""
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [username]))
    if not rows:
        # Hash anyway so that a missing user takes as long as a wrong password.
        check_password_hash(generate_password_hash("x"), password)
        return None
    row = rows[0]
    if not row["active"] or not check_password_hash(row["password_hash"], password):
        return None
    return _row_user(row)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(db: Database, username: str) -> str:
    """Make a new API token for ``username`` (the old one stops working); only its hash is kept."""
    user = find_user(db, username)
    token = "ft_" + secrets.token_urlsafe(32)
    with write_transaction(db):
        db.execute("UPDATE users SET token_hash = ? WHERE id = ?", [_token_digest(token), user.id])
        audit(db, user.id, "user.token", username)
    return token


def user_by_token(db: Database, token: str) -> User | None:
    """The active account holding this API token, else ``None``."""
    if not token.startswith("ft_"):
        return None
    rows = list(
        db.query("SELECT * FROM users WHERE token_hash = ? AND active = 1", [_token_digest(token)])
    )
    return _row_user(rows[0]) if rows else None


def record_login(db: Database, user: User) -> None:
    """Write a successful login to the audit log."""
    with write_transaction(db):
        audit(db, user.id, "login", user.username)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")


def set_password(db: Database, username: str, password: str, *, by: int | None = None) -> User:
    """Give ``username`` a new password and end every web session it has."""
    _check_password(password)
    user = find_user(db, username)
    with write_transaction(db):
        db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?",
            [generate_password_hash(password), user.id],
        )
        db.execute("DELETE FROM web_sessions WHERE user_id = ?", [user.id])
        # A new password is how an admin unlocks an account a guesser locked: forget the failures.
        db.execute("DELETE FROM login_failures WHERE username = ?", [username[:64]])
        audit(db, by, "user.passwd", username)
    return get_user(db, user.id)


def set_active(db: Database, username: str, active: bool) -> User:
    """Enable or disable an account; disabling ends its sessions and its API token stops working."""
    user = find_user(db, username)
    with write_transaction(db):
        db.execute("UPDATE users SET active = ? WHERE id = ?", [int(active), user.id])
        if not active:
            db.execute("DELETE FROM web_sessions WHERE user_id = ?", [user.id])
            db.execute("DELETE FROM leases WHERE user_id = ?", [user.id])
        else:  # `user enable` also unlocks an account locked by failed logins
            db.execute("DELETE FROM login_failures WHERE username = ?", [username[:64]])
        audit(db, None, "user.enable" if active else "user.disable", username)
    return get_user(db, user.id)


def revoke_token(db: Database, username: str) -> bool:
    """Remove ``username``'s API token; ``False`` when it had none."""
    user = find_user(db, username)
    with write_transaction(db):
        cur = db.execute(
            "UPDATE users SET token_hash = NULL WHERE id = ? AND token_hash IS NOT NULL", [user.id]
        )
        if cur.rowcount:
            audit(db, None, "user.token.revoke", username)
    return bool(cur.rowcount)


def token_holders(db: Database) -> list[str]:
    """Names of the accounts that have an API token."""
    rows = db.execute(
        "SELECT username FROM users WHERE token_hash IS NOT NULL ORDER BY username"
    ).fetchall()
    return [str(r[0]) for r in rows]
