"""Storage errors are classified by their code, on real SQLite errors and real OS errors."""

from __future__ import annotations

import errno
import sqlite3
import sys
from pathlib import Path

import pytest

from facetrove.collector.store.db import DB_NAME, connect, is_disk_full


def _raised(conn: sqlite3.Connection, sql: str) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as err:
        conn.execute(sql)
    return err.value


@pytest.mark.skipif(sys.version_info < (3, 11), reason="sqlite3 error codes need Python 3.11")
def test_a_full_database_is_disk_full(tmp_path: Path) -> None:
    """Tried: the database cannot grow (SQLITE_FULL through max_page_count)."""
    db = connect(tmp_path / DB_NAME)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    exc = _raised(db.conn, "INSERT INTO settings (key, value) VALUES ('k', '" + "x" * 9000 + "')")
    assert is_disk_full(exc)
    db.close()


def test_full_in_the_text_is_not_disk_full(tmp_path: Path) -> None:
    """Tried: errors whose message or path says "full" (the old check matched on the text)."""
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE fullness (full TEXT UNIQUE)")
    conn.execute("INSERT INTO fullness VALUES ('a')")
    unique = _raised(conn, "INSERT INTO fullness VALUES ('a')")
    assert "full" in str(unique) and not is_disk_full(unique)
    io_error = OSError(errno.EIO, "Input/output error", "/mnt/full-backups/blobs/ab/x.part")
    assert "full" in str(io_error) and not is_disk_full(io_error)
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device", "/data"))
    conn.close()
