"""Figures about the store: durable counters, samples by state, the dashboard's aggregates.

Every figure is one aggregate query over indexed columns (see migration 002), so they stay fast
with hundreds of thousands of samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facetrove.collector.store.db import Database
from facetrove.collector.store.samples import COUNTED


def bump_counters(db: Database, counts: Mapping[str, int]) -> None:
    """Add to named counters (created at zero). Call inside a transaction."""
    for name, n in counts.items():
        if n:
            db.conn.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, n),
            )


def counters(db: Database, prefix: str = "") -> dict[str, int]:
    """Counters whose name starts with ``prefix``, by name."""
    rows = db.conn.execute(
        "SELECT name, value FROM counters WHERE name LIKE ? ORDER BY name", (prefix + "%",)
    ).fetchall()
    return {name: int(value) for name, value in rows}


def state_counts(db: Database) -> dict[str, int]:
    """Number of samples per review state, by state name (byte-identical copies not counted)."""
    rows = db.execute(
        f"SELECT state, COUNT(*) FROM samples WHERE {COUNTED} GROUP BY state ORDER BY state"
    )
    return {state: int(n) for state, n in rows.fetchall()}


def duplicate_count(db: Database) -> int:
    """Samples held back as byte-identical copies of an earlier sample's crop."""
    return int(db.execute(f"SELECT COUNT(*) FROM samples WHERE NOT {COUNTED}").fetchone()[0])


def device_state_counts(db: Database) -> list[tuple[str, str, int]]:
    """``(device id, state, samples)`` for every device and state that has samples."""
    return [
        (d, s, int(n))
        for d, s, n in db.execute(
            f"SELECT device_id, state, COUNT(*) FROM samples WHERE {COUNTED} "
            "GROUP BY device_id, state"
        ).fetchall()
    ]


def samples_per_day(db: Database, days: int = 30) -> list[tuple[str, int]]:
    """``(YYYY-MM-DD, samples captured)`` of the last ``days`` days that have samples, oldest
    first."""
    rows = db.execute(
        "SELECT substr(captured_at, 1, 10) AS day, COUNT(*) FROM samples "
        "GROUP BY day ORDER BY day DESC LIMIT ?",
        [days],
    ).fetchall()
    return [(d, int(n)) for d, n in rows[::-1]]


def prelabel_vs_label(db: Database) -> list[tuple[str | None, str, int]]:
    """``(pre-label, confirmed label, samples)`` over the confirmed samples."""
    return db.execute(
        "SELECT prelabel_label, label, COUNT(*) FROM samples WHERE state = 'confirmed' "
        f"AND {COUNTED} GROUP BY prelabel_label, label"
    ).fetchall()


def prelabel_by_model_day(db: Database, days: int = 60) -> list[tuple[str, str, str, str, int]]:
    """``(model id, capture day, pre-label, confirmed label, samples)`` over the confirmed
    samples of the last ``days`` capture days: pre-label accuracy per model over time."""
    return db.execute(
        "SELECT prelabel_model_id, substr(captured_at, 1, 10) AS day, prelabel_label, label,"
        " COUNT(*) FROM samples WHERE state = 'confirmed' AND prelabel_model_id IS NOT NULL"
        f" AND {COUNTED} AND captured_at >= date((SELECT MAX(captured_at) FROM samples), ?)"
        " GROUP BY 1, 2, 3, 4",
        [f"-{int(days)} days"],
    ).fetchall()


def prelabel_hits_by_file(db: Database) -> dict[str, tuple[int, int]]:
    """``model sha256 -> (pre-labels the review confirmed, pre-labels reviewed)`` over the
    confirmed samples: the same file under two ids (the shipped model before and after it was
    announced as ``bundled``) counts once."""
    rows = db.execute(
        "SELECT prelabel_model_sha256, SUM(prelabel_label = label), COUNT(*) FROM samples"
        f" WHERE state = 'confirmed' AND prelabel_model_sha256 IS NOT NULL AND {COUNTED}"
        " GROUP BY 1"
    ).fetchall()
    return {str(sha): (int(right or 0), int(n)) for sha, right, n in rows}


def confidence_histogram(db: Database) -> dict[int, int]:
    """Samples per pre-label confidence tenth (bin 0 is [0, 0.1), bin 9 is [0.9, 1])."""
    return dict(
        db.execute(
            "SELECT MIN(CAST(prelabel_confidence * 10 AS INTEGER), 9), COUNT(*) FROM samples "
            "WHERE prelabel_confidence IS NOT NULL GROUP BY 1"
        ).fetchall()
    )


def face_size_histogram(db: Database) -> dict[int, int]:
    """Samples per 32-pixel face-size bin (bin 15 is 480 px and more)."""
    return dict(
        db.execute(
            "SELECT MIN(face_px / 32, 15), COUNT(*) FROM samples "
            "WHERE face_px IS NOT NULL GROUP BY 1"
        ).fetchall()
    )


def reviewer_throughput(db: Database) -> list[tuple[str, str, int]]:
    """``(reviewer, day, decisions)`` of the last 14 days, undos and imports not counted, by
    day."""
    rows: list[Any] = db.execute(
        "SELECT u.username, substr(d.decided_at, 1, 10) AS day, COUNT(*) FROM decisions d "
        "JOIN users u ON u.id = d.user_id WHERE d.action NOT IN ('undo', 'import') "
        "AND d.decided_at >= date('now', '-13 days') GROUP BY u.username, day ORDER BY day"
    ).fetchall()
    return rows


def decision_counts(db: Database) -> dict[str, int]:
    """Review decisions ever made, by action (confirm, correct, reject, undo); imports not
    counted. Growing only: ``rate()`` of it is the review rate."""
    rows = db.execute(
        "SELECT action, COUNT(*) FROM decisions WHERE action != 'import' GROUP BY action"
    ).fetchall()
    return {str(action): int(n) for action, n in rows}


def device_state_totals(db: Database) -> dict[str, int]:
    """Number of known devices per state (online, offline, ...)."""
    rows = db.execute("SELECT state, COUNT(*) FROM devices GROUP BY state").fetchall()
    return {str(state or "unknown"): int(n) for state, n in rows}


def version_status_counts(db: Database) -> dict[str, int]:
    """Number of dataset versions per build status (building, ready, failed)."""
    rows = db.execute("SELECT status, COUNT(*) FROM versions GROUP BY status").fetchall()
    return {str(status or "unknown"): int(n) for status, n in rows}
