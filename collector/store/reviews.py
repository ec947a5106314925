"""Human review: decisions are rows; a sample's state/label/decided_at are derived from them.

Every decision (confirm, correct, reject) is appended to ``decisions``; an undo appends a row that
cancels earlier ones. After each change the affected samples' derived columns are recomputed
from their live decisions, with optional consensus: ``k`` reviewers must agree. Leases hand each
reviewer a page of samples nobody else holds until the lease expires.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlite_utils

STATES = ("pending", "confirmed", "rejected")
ACTIONS = ("label", "reject")
MAX_CLASSES = 64


class ReviewError(ValueError):
    """A review request that cannot be carried out (message is for the user)."""


class UnknownSample(ReviewError):
    """A decision names a sample the store does not hold."""


def now_iso(at: datetime | None = None) -> str:
    """UTC time as ISO 8601 with microseconds (decisions of one batch share one value)."""
    return (at or datetime.now(timezone.utc)).isoformat(timespec="microseconds")


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: the writes inside happen all or not at all.

    The store's connection is in autocommit mode, where ``with conn:`` opens no transaction, so
    this is explicit. Only raw ``db.execute`` may be used inside (sqlite-utils helpers commit).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def audit(
    db: sqlite_utils.Database, user_id: int | None, action: str, target: str, detail: str = ""
) -> None:
    """Append one audit row (call inside the caller's transaction)."""
    db.execute(
        "INSERT INTO audit (at, user_id, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        [now_iso(), user_id, action, target, detail],
    )


# ---------------------------------------------------------------- classes


def class_names(db: sqlite_utils.Database) -> list[str]:
    """The project's active classes in display order (number key n picks the n-th)."""
    return [
        r[0]
        for r in db.execute(
            "SELECT name FROM classes WHERE active = 1 ORDER BY position, name"
        ).fetchall()
    ]


def class_aliases(db: sqlite_utils.Database) -> dict[str, str]:
    """Old class name -> current name, following chains of renames."""
    renamed = dict(
        db.execute(
            "SELECT renamed_from, name FROM classes WHERE renamed_from IS NOT NULL"
        ).fetchall()
    )
    out = {}
    for old in renamed:
        new, seen = renamed[old], {old}
        while new in renamed and new not in seen:
            seen.add(new)
            new = renamed[new]
        out[old] = new
    return out


def _check_class_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable() or "/" in name:
        raise ReviewError("a class name must be 1-64 printable characters without '/'")
    return name


def add_class(db: sqlite_utils.Database, name: str, user_id: int | None) -> str:
    """Add a class at the end of the list. Raises ``ReviewError`` if it exists."""
    name = _check_class_name(name)
    with write_transaction(db):
        if db.execute("SELECT 1 FROM classes WHERE name = ?", [name]).fetchone():
            raise ReviewError(f"class {name!r} already exists")
        count, top = db.execute("SELECT COUNT(*), MAX(position) FROM classes").fetchone()
        if count >= MAX_CLASSES:
            raise ReviewError(f"at most {MAX_CLASSES} classes")
        db.execute(
            "INSERT INTO classes (name, position, created_at, active) VALUES (?, ?, ?, 1)",
            [name, (top or 0) + 1, now_iso()],
        )
        audit(db, user_id, "class.add", name)
    return name


def rename_class(db: sqlite_utils.Database, old: str, new: str, user_id: int | None) -> str:
    """Rename a class; confirmed labels and decisions follow, pre-labels map through aliases."""
    new = _check_class_name(new)
    with write_transaction(db):
        row = db.execute(
            "SELECT position FROM classes WHERE name = ? AND active = 1", [old]
        ).fetchone()
        if row is None:
            raise ReviewError(f"no active class named {old!r}")
        if db.execute("SELECT 1 FROM classes WHERE name = ?", [new]).fetchone():
            raise ReviewError(f"class {new!r} already exists")
        db.execute("UPDATE classes SET active = 0 WHERE name = ?", [old])
        db.execute(
            "INSERT INTO classes (name, position, created_at, renamed_from, active) "
            "VALUES (?, ?, ?, ?, 1)",
            [new, row[0], now_iso(), old],
        )
        db.execute("UPDATE samples SET label = ? WHERE label = ?", [new, old])
        db.execute("UPDATE decisions SET label = ? WHERE label = ?", [new, old])
        audit(db, user_id, "class.rename", old, json.dumps({"to": new}))
    return new


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True)
class DecisionIn:
    """What a reviewer says about one sample: ``label`` it as a class, or ``reject`` it."""

    sample_id: str
    action: str
    label: str | None = None


def decide(
    db: sqlite_utils.Database, user_id: int, items: Sequence[DecisionIn], k: int = 1
) -> dict[str, str]:
    """Record one batch of decisions (one page) and return sample id -> new derived state.

    A batch shares one ``decided_at`` so that one undo takes back the whole page.

    Raises:
        ReviewError: unknown action or class, or an unknown sample id (nothing is written then).
    """
    if not items:
        return {}
    classes = set(class_names(db))
    aliases = class_aliases(db)
    for item in items:
        if item.action not in ACTIONS:
            raise ReviewError(f"action must be 'label' or 'reject', not {item.action!r}")
        if item.action == "label" and item.label not in classes:
            raise ReviewError(f"unknown class {item.label!r}")
    ids = [i.sample_id for i in items]
    at = now_iso()
    with write_transaction(db):
        pre = dict(_in_chunks(db, "SELECT id, prelabel_label FROM samples WHERE id IN ({})", ids))
        missing = [i for i in ids if i not in pre]
        if missing:
            raise UnknownSample(f"unknown sample id {missing[0]!r}")
        for item in items:
            if item.action == "reject":
                action, label = "reject", None
            else:
                shown = aliases.get(pre[item.sample_id], pre[item.sample_id])
                action = "confirm" if item.label == shown else "correct"
                label = item.label
            db.execute(
                "INSERT INTO decisions (sample_id, user_id, decided_at, action, label) "
                "VALUES (?, ?, ?, ?, ?)",
                [item.sample_id, user_id, at, action, label],
            )
            audit(db, user_id, f"decision.{action}", item.sample_id, label or "")
        _in_chunks(db, "DELETE FROM leases WHERE sample_id IN ({})", ids)
        return refresh_state(db, ids, k)


def undo_last(
    db: sqlite_utils.Database, user_id: int, k: int = 1, lease_seconds: int = 600
) -> list[str]:
    """Cancel this reviewer's most recent batch of live decisions; returns the sample ids.

    The samples are leased back to the reviewer (and other leases of theirs released) so that
    the next page shows exactly them again.
    """
    live = (
        "user_id = ? AND action != 'undo' AND id NOT IN "
        "(SELECT undoes FROM decisions WHERE undoes IS NOT NULL)"
    )
    with write_transaction(db):
        row = db.execute(
            f"SELECT MAX(decided_at) FROM decisions WHERE {live}", [user_id]
        ).fetchone()
        if row is None or row[0] is None:
            return []
        rows = db.execute(
            f"SELECT id, sample_id FROM decisions WHERE {live} AND decided_at = ?",
            [user_id, row[0]],
        ).fetchall()
        at = now_iso()
        until = now_iso(datetime.now(timezone.utc) + timedelta(seconds=lease_seconds))
        # The page shown after an undo is the undone one: give back whatever else is held.
        db.execute("DELETE FROM leases WHERE user_id = ?", [user_id])
        for decision_id, sample_id in rows:
            db.execute(
                "INSERT INTO decisions (sample_id, user_id, decided_at, action, undoes) "
                "VALUES (?, ?, ?, 'undo', ?)",
                [sample_id, user_id, at, decision_id],
            )
            db.execute(
                "INSERT OR REPLACE INTO leases (sample_id, user_id, expires_at) VALUES (?, ?, ?)",
                [sample_id, user_id, until],
            )
        ids = sorted({sid for _, sid in rows})
        audit(db, user_id, "decision.undo", ",".join(ids)[:2000], str(len(rows)))
        refresh_state(db, ids, k)
    return ids


def _in_chunks(
    db: sqlite_utils.Database, sql: str, ids: Sequence[str], extra: Sequence[Any] = ()
) -> list[Any]:
    rows: list[Any] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows += db.execute(sql.format(marks), [*chunk, *extra]).fetchall()
    return rows


def refresh_state(
    db: sqlite_utils.Database, sample_ids: Sequence[str], k: int = 1
) -> dict[str, str]:
    """Recompute state/label/decided_at of these samples from their live decisions."""
    ids = sorted(set(sample_ids))
    undone = {
        r[0]
        for r in _in_chunks(
            db, "SELECT undoes FROM decisions WHERE action = 'undo' AND sample_id IN ({})", ids
        )
    }
    votes: dict[str, list[tuple[int, int, str, str | None, str]]] = {i: [] for i in ids}
    for did, sid, uid, action, label, at in _in_chunks(
        db,
        "SELECT id, sample_id, user_id, action, label, decided_at FROM decisions "
        "WHERE action != 'undo' AND sample_id IN ({}) ORDER BY id",
        ids,
    ):
        if did not in undone:
            votes[sid].append((did, uid, action, label, at))
    out = {}
    for sid in ids:
        state, label, at = derive(votes[sid], k)
        db.execute(
            "UPDATE samples SET state = ?, label = ?, decided_at = ? WHERE id = ?",
            [state, label, at, sid],
        )
        out[sid] = state
    return out


def derive(
    votes: Sequence[tuple[int, int, str, str | None, str]], k: int
) -> tuple[str, str | None, str | None]:
    """(state, label, decided_at) from live votes ``(id, user, action, label, at)`` in id order.

    Each reviewer's latest vote counts once. With ``k == 1`` the latest vote decides; otherwise
    the first outcome that ``k`` reviewers agree on decides, and until then the sample is pending.
    """
    latest: dict[int, tuple[int, int, str, str | None, str]] = {}
    for vote in votes:
        latest[vote[1]] = vote
    if not latest:
        return "pending", None, None
    ordered = sorted(latest.values())
    if k <= 1:
        _, _, action, label, at = ordered[-1]
        return ("rejected", None, at) if action == "reject" else ("confirmed", label, at)
    tally: Counter[tuple[str, str | None]] = Counter()
    for _, _, action, label, at in ordered:
        key = ("rejected", None) if action == "reject" else ("confirmed", label)
        tally[key] += 1
        if tally[key] >= k:
            return key[0], key[1], at
    return "pending", None, None


def history(db: sqlite_utils.Database, sample_id: str) -> list[dict[str, Any]]:
    """Every decision on a sample with the reviewer's name, oldest first."""
    return list(
        db.query(
            "SELECT d.id, d.decided_at, d.action, d.label, d.undoes, u.username FROM decisions d "
            "LEFT JOIN users u ON u.id = d.user_id WHERE d.sample_id = ? ORDER BY d.id",
            [sample_id],
        )
    )
