"""Migrations on real SQLite files: each one is applied whole or not at all.

Tried: a migration that fails half-way (after creating a table, adding a column, inserting rows
through sqlite-utils' helpers and creating an index), a process killed with SIGKILL in the middle
of a migration, and two processes opening a fresh store at the same moment.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlite_utils

from facetrove.collector.store import schema
from facetrove.collector.store.db import DB_NAME, StoreError, connect
from facetrove.collector.store.users import create_user

ROOT = Path(__file__).resolve().parents[3]
RELEASED = list(schema.MIGRATIONS)


def snapshot(path: Path) -> list[str]:
    """Every schema object and every row of the database file, as SQL text."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def half_way(db: sqlite_utils.Database) -> None:
    """A migration that does real work with every kind of statement, then fails."""
    db.table("probe_items").create({"id": int, "name": str}, pk="id")
    db.table("probe_items").insert_all([{"id": 1, "name": "glasses"}, {"id": 2, "name": "mask"}])
    db.execute("ALTER TABLE samples ADD COLUMN probe_id INTEGER")
    db.execute("UPDATE users SET role = 'reviewer'")
    db.execute("CREATE INDEX idx_samples_probe ON samples (probe_id)")
    db.execute("INSERT INTO probe_items (id, name) VALUES (1, 'duplicate key')")  # IntegrityError


def fixed(db: sqlite_utils.Database) -> None:
    db.table("probe_items").create({"id": int, "name": str}, pk="id")
    db.table("probe_items").insert_all([{"id": 1, "name": "glasses"}, {"id": 2, "name": "mask"}])
    db.execute("ALTER TABLE samples ADD COLUMN probe_id INTEGER")
    db.execute("CREATE INDEX idx_samples_probe ON samples (probe_id)")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    """A store with every released migration and some rows."""
    path = tmp_path / DB_NAME
    db = connect(path)
    create_user(db, "alice", "correct horse battery", "admin")
    db.close()
    yield path


def with_migration(
    monkeypatch: pytest.MonkeyPatch, func: Callable[[sqlite_utils.Database], None]
) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", [*RELEASED, ("900_probe", func)])


def test_failing_migration_leaves_the_store_as_it_was(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept: schema and rows byte for byte, no _migrations row, a one-line error naming the
    migration; the next start with the migration fixed applies it."""
    before = snapshot(store)
    with_migration(monkeypatch, half_way)
    with pytest.raises(StoreError, match="900_probe") as err:
        connect(store)
    assert "rolled back" in str(err.value)
    assert snapshot(store) == before
    with_migration(monkeypatch, fixed)
    db = connect(store)
    assert [r["name"] for r in db.query("SELECT name FROM probe_items ORDER BY id")] == [
        "glasses",
        "mask",
    ]
    assert "probe_id" in db.table("samples").columns_dict
    assert db.execute("SELECT role FROM users").fetchone()[0] == "admin"
    names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in schema.MIGRATIONS]
    db.close()


def test_killed_mid_migration_leaves_the_store_as_it_was(store: Path, tmp_path: Path) -> None:
    """A process SIGKILLed while a migration has created a table and inserted rows."""
    before = snapshot(store)
    marker = tmp_path / "half-way"
    script = f"""
import sys, time
from pathlib import Path
from facetrove.collector.store import schema
from facetrove.collector.store.db import connect

def slow(db):
    db.table("probe_items").create({{"id": int, "name": str}}, pk="id")
    db.table("probe_items").insert_all([{{"id": 1, "name": "glasses"}}])
    db.execute("ALTER TABLE samples ADD COLUMN probe_id INTEGER")
    Path({str(marker)!r}).write_text("x")
    time.sleep(60)

schema.MIGRATIONS.append(("900_probe", slow))
connect({str(store)!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, "the migrating process died before the marker"
            assert time.monotonic() < deadline, "the migration never reached half-way"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert snapshot(store) == before
    db = connect(store)  # the next start: the released migrations only, nothing to redo
    assert "probe_items" not in db.table_names()
    db.close()


def test_two_processes_open_a_fresh_store_at_once(tmp_path: Path) -> None:
    """Ingest and the web app started together on an empty folder: both open it, once.

    Tried: 20 fresh stores, each opened by 6 threads at once (the WAL switch on a new file once
    answered "database is locked" in about 1 of 60 such rounds). Kept: every open succeeds.
    """
    for round_ in range(20):
        path = tmp_path / str(round_) / DB_NAME
        errors: list[BaseException] = []
        start = threading.Barrier(6)

        def open_store(
            path: Path = path,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                start.wait()
                connect(path).close()
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=open_store) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        db = connect(path)
        names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY name")]
        db.close()
        assert names == [name for name, _ in RELEASED]
