"""Web sessions kept in the store, and failed logins counted for throttling.

A session cookie only carries a random session id; the row here is what makes it valid, so a
logout, a password change or a disabled account ends it at once on the server. Failed logins are
written to ``login_failures`` (for the throttle) and to the audit log (for admins).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from facetrove.collector.store.db import Database, audit, now_iso, write_transaction


@dataclass(frozen=True)
class Throttle:
    """How many failed logins are allowed in ``window_s`` seconds per account and per address."""

    per_account: int = 5
    per_address: int = 20
    window_s: int = 900


class TooManyFailures(Exception):
    """Logins for this account or from this address are paused; ``retry_after`` in seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            f"Too many failed logins for this {what}; try again in about {minutes} minute"
            + ("s" if minutes != 1 else "")
            + "."
        )
        self.retry_after = retry_after


def _since(window_s: int) -> str:
    return now_iso(datetime.now(timezone.utc) - timedelta(seconds=window_s))


def _retry_after(oldest: str, window_s: int) -> int:
    end = datetime.fromisoformat(oldest) + timedelta(seconds=window_s)
    return max(1, int((end - datetime.now(timezone.utc)).total_seconds()) + 1)


def begin_attempt(db: Database, username: str, address: str, limits: Throttle) -> int:
    """Count a login attempt as failed until it succeeds; returns its row id.

    The count and the insert are one write transaction, so simultaneous guesses cannot all pass
    the check before any is counted. Raises ``TooManyFailures`` when the account or the
    address used up its attempts.
    """
    since = _since(limits.window_s)
    with write_transaction(db):
        for column, value, limit, what in (
            ("username", username[:64], limits.per_account, "account"),
            ("address", address, limits.per_address, "address"),
        ):
            row = db.execute(
                f"SELECT COUNT(*), MIN(at) FROM (SELECT at FROM login_failures "
                f"WHERE {column} = ? AND at > ? ORDER BY at DESC LIMIT ?)",
                [value, since, limit],
            ).fetchone()
            if row[0] >= limit:
                raise TooManyFailures(what, _retry_after(row[1], limits.window_s))
        cur = db.execute(
            "INSERT INTO login_failures (at, username, address) VALUES (?, ?, ?)",
            [now_iso(), username[:64], address],
        )
        # Rows older than a day are no use to the throttle.
        db.execute("DELETE FROM login_failures WHERE at < ?", [_since(86400)])
    return int(cur.lastrowid or 0)


def record_failure(db: Database, username: str, address: str, reason: str) -> None:
    """Write a failed login (already counted by ``begin_attempt``) to the audit log."""
    with write_transaction(db):
        audit(db, None, "login.failed", username[:64], f"{reason} from {address}")


def clear_failures(db: Database, username: str) -> None:
    """Forget an account's failed logins (after a successful login)."""
    db.execute("DELETE FROM login_failures WHERE username = ?", [username])


def recent_failures(db: Database, limit: int = 20) -> list[dict[str, str]]:
    """The latest failed logins from the audit log, newest first (for admins)."""
    rows = db.execute(
        "SELECT at, target, detail FROM audit WHERE action = 'login.failed' "
        "ORDER BY id DESC LIMIT ?",
        [limit],
    ).fetchall()
    return [{"at": r[0], "username": r[1], "detail": r[2]} for r in rows]


def start_session(db: Database, user_id: int, address: str) -> str:
    """A new session id for this account."""
    sid = secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO web_sessions (id, user_id, created_at, address) VALUES (?, ?, ?, ?)",
        [sid, user_id, now_iso(), address],
    )
    return sid


def session_user(db: Database, sid: str) -> int | None:
    """The account id a live session belongs to, else ``None``."""
    row = db.execute("SELECT user_id FROM web_sessions WHERE id = ?", [sid]).fetchone()
    return int(row[0]) if row else None


def end_session(db: Database, sid: str) -> None:
    """End one session (logout)."""
    db.execute("DELETE FROM web_sessions WHERE id = ?", [sid])


def end_user_sessions(db: Database, user_id: int) -> int:
    """End every session of an account (password change, disabled); returns how many."""
    return db.execute("DELETE FROM web_sessions WHERE user_id = ?", [user_id]).rowcount


def prune_sessions(db: Database, max_age_s: int) -> None:
    """Drop sessions older than the longest a login may last."""
    db.execute("DELETE FROM web_sessions WHERE created_at < ?", [_since(max_age_s)])
