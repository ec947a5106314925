"""Rows of dataset versions: the ``versions`` table and which sample went to which split.

The images, manifest and card of a version live in its folder (``collector.versions``); these
rows say what exists, its status (building, ready, failed) and its snapshot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from facetrove.collector.store.db import Database, dict_rows, write_transaction


class VersionTaken(Exception):
    """Another request recorded a version with this id first."""


def version_ids(db: Database) -> list[str]:
    """Every version id, oldest first."""
    return [r[0] for r in db.execute("SELECT id FROM versions ORDER BY created_at, id")]


def get_version(db: Database, version_id: str) -> dict[str, Any] | None:
    """The row of one version, or ``None``."""
    rows = dict_rows(db.conn.execute("SELECT * FROM versions WHERE id = ?", [version_id]))
    return rows[0] if rows else None


def list_versions(db: Database, *, newest_first: bool = False) -> list[dict[str, Any]]:
    """Every version row, by creation time (then id)."""
    order = "created_at DESC, id DESC" if newest_first else "created_at, id"
    return dict_rows(db.conn.execute(f"SELECT * FROM versions ORDER BY {order}"))


def add_building(db: Database, row: dict[str, Any]) -> None:
    """Record a new version with status ``building`` (``row`` holds its other columns).

    Raises ``VersionTaken`` when a version with this id exists (a simultaneous request won)."""
    values = {**row, "status": "building"}
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    try:
        with write_transaction(db):
            db.execute(f"INSERT INTO versions ({names}) VALUES ({marks})", list(values.values()))
    except sqlite3.IntegrityError as exc:
        raise VersionTaken(row["id"]) from exc


def mark_failed(db: Database, version_id: str, error: str) -> None:
    """Record that building a version failed, with the error shown to the user."""
    with write_transaction(db):
        db.execute(
            "UPDATE versions SET status = 'failed', error = ? WHERE id = ?", [error, version_id]
        )


def mark_ready(
    db: Database, version_id: str, card: str, members: Iterable[tuple[str, str, str]]
) -> None:
    """Record a built version's card and its ``(sample id, split, label)`` rows, in one commit."""
    with write_transaction(db):
        db.conn.executemany(
            "INSERT INTO version_samples (version_id, sample_id, split, label) VALUES (?, ?, ?, ?)",
            ((version_id, *m) for m in members),
        )
        db.execute(
            "UPDATE versions SET status = 'ready', card = ? WHERE id = ?", [card, version_id]
        )


def delete_version_rows(db: Database, version_id: str) -> None:
    """Remove a version's rows (never its samples)."""
    with write_transaction(db):
        db.execute("DELETE FROM version_samples WHERE version_id = ?", [version_id])
        db.execute("DELETE FROM versions WHERE id = ?", [version_id])


def version_tags(db: Database, version_id: str) -> dict[str, int]:
    """The import tags (source, licence note) of a version's samples, with their counts."""
    rows = db.execute(
        "SELECT s.tag, COUNT(*) FROM version_samples v JOIN samples s ON s.id = v.sample_id"
        " WHERE v.version_id = ? AND s.tag IS NOT NULL GROUP BY s.tag ORDER BY s.tag",
        [version_id],
    )
    return {str(tag): int(n) for tag, n in rows}
