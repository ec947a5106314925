"""The outbox's SQLite file: its schema, how it is opened, and the size of its disk reserve."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    payload BLOB NOT NULL,
    value INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS delivered (
    sample_id TEXT PRIMARY KEY,
    at REAL NOT NULL
) WITHOUT ROWID;
"""
PAGE = 4096
RESERVE_EXTRA = 256 * 1024  # beyond the WAL's limit: room for one more transaction


def wal_pages(min_free_bytes: int) -> int:
    """The WAL's auto-checkpoint size in pages for a free-space margin (0: SQLite's default).

    A checkpoint copies the WAL into the file and needs that much free space: the WAL stays
    under half the margin so one always finds room (SQLite's default lets it reach 4 MB, which
    fills a small disk before any checkpoint runs)."""
    if min_free_bytes <= 0:
        return 0
    return max(16, min(1000, min_free_bytes // 2 // PAGE))


def reserve_size(min_free_bytes: int) -> int:
    """Bytes of the disk reserve (``reserve.py``): a whole WAL and one more transaction, so that
    with it released a checkpoint and an eviction fit on a disk filled by someone else. None
    when disk-pressure handling is off (``min_free_bytes`` 0)."""
    pages = wal_pages(min_free_bytes)
    return pages * PAGE + RESERVE_EXTRA if pages else 0


def open_outbox_file(path: Path, min_free_bytes: int) -> sqlite3.Connection:
    """Open (create, upgrade) the outbox file in WAL mode.

    Raises:
        sqlite3.Error, OSError: it cannot be opened (e.g. no room left for the WAL index).
    """
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        if pages := wal_pages(min_free_bytes):
            db.execute(f"PRAGMA wal_autocheckpoint={pages}")
        db.executescript(SCHEMA)
        columns = {r[1] for r in db.execute("PRAGMA table_info(outbox)")}
        if "value" not in columns:  # an outbox file from before disk-pressure eviction
            db.execute("ALTER TABLE outbox ADD COLUMN value INTEGER NOT NULL DEFAULT 0")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.close()
        raise
    return db
