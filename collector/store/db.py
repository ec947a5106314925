"""Opening the SQLite store and the helpers every store module shares.

WAL, durable commits, migrations at open; explicit write transactions (the connection is in
autocommit mode); the audit log; ``IN (...)`` queries over long id lists.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from facetrove.collector.store.schema import migrate

DB_NAME = "facetrove.db"

#: The store's handle. Callers outside ``collector/store/`` pass it around and never query it.
Database = sqlite_utils.Database

#: Base class of every error the database raises (locked, full, corrupt, I/O): callers that
#: report store failures catch this instead of the driver's own types.
StoreError = sqlite3.Error


def is_disk_full(exc: BaseException) -> bool:
    """Whether a store or file-system error says the disk (or the database's size limit) is full.

    Decided by the error's code (``SQLITE_FULL``, ``ENOSPC``), never by its text: a message or a
    path that happens to contain "full" is not a full disk. Python 3.10's sqlite3 exposes no
    error code, so there a full database is reported as a plain storage error.
    """
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF == getattr(sqlite3, "SQLITE_FULL", 13)
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def connect(path: Path | str, *, migrate_schema: bool = True) -> Database:
    """Open (and create or migrate) the store database at ``path``.

    WAL lets the web app read while ingest writes; ``synchronous=FULL`` makes each commit
    survive power loss, which is what the ingest's acknowledge-after-commit relies on.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
    _journal_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    db = sqlite_utils.Database(conn)
    if migrate_schema:
        migrate(db)
    return db


def _journal_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch to WAL. On a brand-new file that several processes open at once (ingest and the web
    app started together) SQLite answers this pragma "locked" without calling the busy handler,
    so it is retried here for as long as the busy timeout would have waited."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            busy = code is None or code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:  # e.g. a disk I/O error: at once
                raise
            time.sleep(0.01)


def ping(db: Database) -> None:
    """Raise ``StoreError`` unless the database answers a trivial query."""
    db.execute("SELECT 1").fetchone()


def now_iso(at: datetime | None = None) -> str:
    """UTC time as ISO 8601 with microseconds (decisions of one batch share one value)."""
    return (at or datetime.now(timezone.utc)).isoformat(timespec="microseconds")


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: the writes inside happen all or not at all.

    The store's connection is in autocommit mode, where ``with conn:`` opens no transaction, so
    this is explicit. IMMEDIATE takes the write lock up front, so two processes sharing the
    store queue on busy_timeout instead of failing a lock upgrade half-way. Only raw
    ``db.execute`` may be used inside (sqlite-utils helpers commit).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def audit(db: Database, user_id: int | None, action: str, target: str, detail: str = "") -> None:
    """Append one audit row (call inside the caller's transaction)."""
    db.execute(
        "INSERT INTO audit (at, user_id, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        [now_iso(), user_id, action, target, detail],
    )


def in_chunks(db: Database, sql: str, ids: Sequence[str], extra: Sequence[Any] = ()) -> list[Any]:
    """Run ``sql`` (with one ``{}`` for the ``?`` marks) over ``ids`` 500 at a time."""
    rows: list[Any] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows += db.execute(sql.format(marks), [*chunk, *extra]).fetchall()
    return rows


def dict_rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """The rest of a cursor's rows as dicts by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
