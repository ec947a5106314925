"""Refuse to write into a damaged store: SQLite's ``quick_check`` before anything is written.

Writing into a damaged database spreads the damage (new rows land on broken pages, the WAL is
checkpointed over them). Ingest therefore opens its store with ``open_checked``, which runs the
check before the migrations (which write) and raises ``DamagedStore`` with one line that says
what to do. ``quick_check`` reads every page but skips the index-content cross-checks of
``integrity_check``, so it is fast enough for every start (figures in docs/benchmarks.md).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from facetrove.collector.store.db import connect
from facetrove.collector.store.schema import migrate

#: Errors the database raises because of the data of one row, not the storage under it
#: (ingest quarantines that one message instead of retrying the batch).
ROW_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
)

#: How many problems ``quick_check`` lists at most (the first one is what the message shows).
MAX_PROBLEMS = 5


class DamagedStore(sqlite3.DatabaseError):
    """The store's database fails SQLite's ``quick_check``; nothing may be written to it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"the store {path} is damaged ({problem}); nothing was written to it: restore it "
            "from a backup (facetrove collector backup), or salvage what is readable with "
            f"`sqlite3 {path.name} .recover` into a new file"
        )
        self.path = path
        self.problem = problem


def problems(db: sqlite_utils.Database | sqlite3.Connection) -> list[str]:
    """What ``PRAGMA quick_check`` finds wrong (empty if the database is sound).

    Raises:
        sqlite3.DatabaseError: the damage is such that the check itself cannot run.
    """
    rows = [str(r[0]) for r in db.execute(f"PRAGMA quick_check({MAX_PROBLEMS})").fetchall()]
    return [] if rows == ["ok"] else rows


def open_checked(path: Path | str) -> sqlite_utils.Database:
    """Open the store at ``path`` for writing, after ``quick_check`` found it sound.

    Raises:
        DamagedStore: the file is not a database, or ``quick_check`` reports damage.
        sqlite3.Error: another database error (locked, read-only, ...).
        OSError: the folder cannot be created or read.
    """
    path = Path(path)
    fresh = not path.exists()
    if not fresh and path.stat().st_size == 0 and _holds_images(path.parent / "blobs"):
        # SQLite takes an empty file for a new database: ingest would start a second, empty
        # store beside the images of the first.
        raise DamagedStore(path, "the database file is empty, but blobs/ holds images")
    try:
        db = connect(path, migrate_schema=False)
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:  # locked, read-only: not damage
            raise
        raise DamagedStore(path, str(exc)) from None
    try:
        found = [] if fresh else problems(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        if type(exc) is not sqlite3.DatabaseError:
            raise
        raise DamagedStore(path, str(exc)) from None
    if found:
        db.close()
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise DamagedStore(path, f"quick_check: {found[0][:200]}{more}")
    migrate(db)
    return db


def _holds_images(blobs: Path) -> bool:
    return blobs.is_dir() and any(part.is_dir() and any(part.iterdir()) for part in blobs.iterdir())


def check_store(path: Path | str) -> None:
    """Open the store at ``path`` as ``open_checked`` does (check, then migrate) and close it.

    Raises:
        DamagedStore, sqlite3.Error, OSError: as ``open_checked``.
    """
    open_checked(path).close()
