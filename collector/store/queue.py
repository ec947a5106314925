"""The review queue: which samples a reviewer sees next, held by leases.

Leases hand each reviewer a page of samples nobody else holds until the lease expires, so two
reviewers never get the same page. Priority puts the most useful samples first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from facetrove.collector.store.classes import class_names, confirmed_counts
from facetrove.collector.store.db import Database, now_iso, write_transaction
from facetrove.collector.store.errors import ReviewError
from facetrove.collector.store.reviews import STATES
from facetrove.collector.store.samples import COUNTED


@dataclass
class QueueFilter:
    """Filters of the review queue; empty values mean "any"."""

    status: str = "pending"
    device: str = ""
    tag: str = ""  # the source an import recorded
    selection: str = ""  # why the sample was kept (wire.SELECTIONS)
    prelabel: str = ""
    min_conf: float | None = None
    max_conf: float | None = None
    since: str = ""  # ISO date or datetime, captured_at >= since
    until: str = ""  # captured_at < until

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions and parameters on ``samples s``."""
        if self.status not in STATES:
            raise ReviewError(f"status must be one of {', '.join(STATES)}")
        conds: list[str] = ["s.state = ?", f"s.{COUNTED}"]
        params: list[Any] = [self.status]
        if self.device:
            conds.append("s.device_id = ?")
            params.append(self.device)
        if self.tag:
            conds.append("s.tag = ?")
            params.append(self.tag)
        if self.selection:
            conds.append("s.selection = ?")
            params.append(self.selection)
        if self.prelabel:
            conds.append("s.prelabel_label = ?")
            params.append(self.prelabel)
        if self.min_conf is not None:
            conds.append("s.prelabel_confidence >= ?")
            params.append(self.min_conf)
        if self.max_conf is not None:
            conds.append("s.prelabel_confidence <= ?")
            params.append(self.max_conf)
        if self.since:
            conds.append("s.captured_at >= ?")
            params.append(self.since)
        if self.until:
            conds.append("s.captured_at < ?")
            params.append(self.until)
        return conds, params


@dataclass
class Page:
    """One leased queue page."""

    samples: list[dict[str, Any]]
    lease_until: str
    remaining: int = -1
    reasons: dict[str, list[str]] = field(default_factory=dict)


CARD_COLUMNS = (
    "s.id, s.device_id, s.captured_at, s.track_id, s.prelabel_label, s.prelabel_confidence, "
    "s.prelabel_margin, s.provided_label, s.crop_sha256, s.state, s.label, s.face_px, "
    "s.selection"
)


@contextlib.contextmanager
def lease_writes(db: Database) -> Iterator[None]:
    """Commit lease changes without waiting for fsync (``synchronous=NORMAL``, WAL-safe).

    A lease lost to a power cut only means a page may be offered twice; decisions keep the
    store's ``synchronous=FULL``, restored on the way out.
    """
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        db.execute("PRAGMA synchronous=FULL")


def lease_page(
    db: Database,
    user_id: int,
    flt: QueueFilter,
    page_size: int = 24,
    lease_seconds: int = 600,
    k: int = 1,
) -> Page:
    """Lease the next ``page_size`` samples to this reviewer, most useful first.

    The reviewer's own live leases come first (a reload or an undo shows the same page). New
    candidates are the lowest-confidence samples nobody holds (an index walk on
    ``(state, prelabel_confidence)``) plus the lowest-confidence ones of under-represented
    classes; they are ranked by uncertainty, class need and disagreement within their track.
    """
    conds, params = flt.where()
    now = now_iso()
    until = now_iso(datetime.now(timezone.utc) + timedelta(seconds=lease_seconds))
    if k > 1:
        # Consensus: a reviewer never votes twice on a sample.
        conds.append(
            "NOT EXISTS (SELECT 1 FROM decisions d WHERE d.sample_id = s.id AND d.user_id = ? "
            "AND d.action != 'undo' AND d.id NOT IN "
            "(SELECT undoes FROM decisions WHERE undoes IS NOT NULL AND sample_id = s.id))"
        )
        params.append(user_id)
    where = " AND ".join(conds)
    counts = confirmed_counts(db)
    classes = class_names(db)
    top = max([counts.get(c, 0) for c in classes] or [0])
    need = {c: (1.0 - counts.get(c, 0) / top) if top else 0.0 for c in classes}
    own_sql = (
        f"SELECT {CARD_COLUMNS}, l.expires_at FROM samples s JOIN leases l ON l.sample_id = s.id "
        f"WHERE l.user_id = ? AND l.expires_at > ? AND {where} "
        "ORDER BY s.prelabel_confidence LIMIT ?"
    )
    own_args = [user_id, now, *params, page_size]
    cols = [c.strip().removeprefix("s.") for c in CARD_COLUMNS.split(",")]
    # Fast path, no write: a reload while the reviewer's page is full and far from expiring.
    held = db.execute(own_sql, own_args).fetchall()
    half = now_iso(datetime.now(timezone.utc) + timedelta(seconds=lease_seconds / 2))
    if len(held) == page_size and min(r[-1] for r in held) > half:
        samples = [dict(zip(cols, r[:-1], strict=True)) for r in held]
        return Page(samples=samples, lease_until=min(r[-1] for r in held))
    with lease_writes(db), write_transaction(db):
        own = [r[:-1] for r in db.execute(own_sql, own_args).fetchall()]
        rows = list(own)
        if len(rows) < page_size:
            _cap_held(db, user_id, {r[0] for r in own}, page_size)
            free = f"{where} AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.sample_id = s.id)"
            # Expired leases are deleted lazily, here, so the NOT EXISTS stays an index probe.
            db.execute("DELETE FROM leases WHERE expires_at <= ?", [now])
            want = page_size - len(rows)
            cands = db.execute(
                f"SELECT {CARD_COLUMNS} FROM samples s "
                f"WHERE {free} ORDER BY s.prelabel_confidence LIMIT ?",
                [*params, want * 3],
            ).fetchall()
            lacking = sorted((c for c in classes if need[c] >= 0.5), key=lambda c: -need[c])[:2]
            if not flt.prelabel:
                for cls in lacking:
                    cands += db.execute(
                        f"SELECT {CARD_COLUMNS} FROM samples s "
                        f"WHERE {free} AND s.prelabel_label = ? "
                        "ORDER BY s.prelabel_confidence LIMIT ?",
                        [*params, cls, want],
                    ).fetchall()
            picked = _rank(db, cands, need)[:want]
            for row in picked:
                db.execute(
                    "INSERT OR REPLACE INTO leases (sample_id, user_id, expires_at) "
                    "VALUES (?, ?, ?)",
                    [row[0], user_id, until],
                )
            rows += picked
        if own:
            db.execute(
                "UPDATE leases SET expires_at = ? WHERE user_id = ? AND expires_at > ?",
                [until, user_id, now],
            )
    samples = [dict(zip(cols, r, strict=True)) for r in rows]
    return Page(samples=samples, lease_until=until)


def _rank(db: Database, cands: list[Any], need: dict[str, float]) -> list[Any]:
    """Order candidates by priority: uncertainty + class need + track disagreement."""
    unique = list({r[0]: r for r in cands}.values())
    tracks = sorted({(r[1], r[3]) for r in unique if r[3] is not None})
    disagree: set[tuple[str, int]] = set()
    for start in range(0, len(tracks), 200):
        chunk = tracks[start : start + 200]
        marks = ",".join("(?, ?)" for _ in chunk)
        flat = [v for t in chunk for v in t]
        disagree |= {
            (d, t)
            for d, t, n in db.execute(
                # A join from a VALUES table probes the (device_id, track_id) index per track;
                # "(a, b) IN (VALUES ...)" would scan the whole index instead.
                f"WITH t(d, k) AS (VALUES {marks}) "
                "SELECT t.d, t.k, COUNT(DISTINCT s.prelabel_label) FROM t "
                "JOIN samples s ON s.device_id = t.d AND s.track_id = t.k GROUP BY 1, 2",
                flat,
            ).fetchall()
            if n > 1
        }

    def score(r: Any) -> float:
        conf = r[5] if r[5] is not None else 0.0
        return (1.0 - conf) + 0.5 * need.get(r[4], 0.0) + (0.3 if (r[1], r[3]) in disagree else 0)

    return sorted(unique, key=lambda r: (-score(r), r[0]))


def _cap_held(db: Database, user_id: int, keep: set[str], page_size: int) -> None:
    """Before a new page is leased, give back what this reviewer holds beyond one other page.

    A reviewer holds at most ``2 * page_size`` samples: this page, and the newest-leased page
    of an earlier filter (a second tab, or going back). Walking the queue with ever new filters
    no longer hoards samples that others could review.
    """
    others = [
        r[0]
        for r in db.execute(
            "SELECT sample_id FROM leases WHERE user_id = ? ORDER BY expires_at DESC, sample_id",
            [user_id],
        ).fetchall()
        if r[0] not in keep
    ]
    drop = others[page_size:]
    for start in range(0, len(drop), 500):
        chunk = drop[start : start + 500]
        db.execute(
            f"DELETE FROM leases WHERE user_id = ? AND sample_id IN ({','.join('?' * len(chunk))})",
            [user_id, *chunk],
        )


def release_leases(db: Database, user_id: int) -> None:
    """Give back every sample this reviewer holds (on logout)."""
    db.execute("DELETE FROM leases WHERE user_id = ?", [user_id])


def track_cards(db: Database, device_id: str, track_id: Any, exclude: str) -> list[dict[str, Any]]:
    """Up to 24 other samples of one track (card columns), oldest first."""
    return list(
        db.query(
            f"SELECT {CARD_COLUMNS} FROM samples s WHERE s.device_id = ? AND s.track_id = ? "
            "AND s.id != ? ORDER BY s.captured_at LIMIT 24",
            [device_id, track_id, exclude],
        )
    )
