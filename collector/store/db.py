"""Opening the SQLite store: WAL, durable commits, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from facetrove.collector.store.schema import migrate

DB_NAME = "facetrove.db"


def connect(path: Path | str, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    """Open (and create or migrate) the store database at ``path``.

    WAL lets the web app read while ingest writes; ``synchronous=FULL`` makes each commit
    survive power loss, which is what the ingest's acknowledge-after-commit relies on.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    db = sqlite_utils.Database(conn)
    if migrate_schema:
        migrate(db)
    return db
