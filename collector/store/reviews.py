"""Human review: decisions are rows; a sample's state/label/decided_at are derived from them.

Every decision (confirm, correct, reject) is appended to ``decisions``; an undo appends a row that
cancels earlier ones. After each change the affected samples' derived columns are recomputed
from their live decisions, with optional consensus: ``k`` reviewers must agree. The queue and its
leases are in ``queue``, the classes in ``classes``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from facetrove.collector.store.classes import class_aliases, class_names
from facetrove.collector.store.db import Database, audit, in_chunks, now_iso, write_transaction
from facetrove.collector.store.errors import ReviewError, UnknownSample

STATES = ("pending", "confirmed", "rejected")
ACTIONS = ("label", "reject")


@dataclass(frozen=True)
class DecisionIn:
    """What a reviewer says about one sample: ``label`` it as a class, or ``reject`` it."""

    sample_id: str
    action: str
    label: str | None = None


def decide(db: Database, user_id: int, items: Sequence[DecisionIn], k: int = 1) -> dict[str, str]:
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
        pre = dict(in_chunks(db, "SELECT id, prelabel_label FROM samples WHERE id IN ({})", ids))
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
        in_chunks(db, "DELETE FROM leases WHERE sample_id IN ({})", ids)
        return refresh_state(db, ids, k)


def undo_last(db: Database, user_id: int, k: int = 1, lease_seconds: int = 600) -> list[str]:
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


def refresh_state(db: Database, sample_ids: Sequence[str], k: int = 1) -> dict[str, str]:
    """Recompute state/label/decided_at of these samples from their live decisions."""
    ids = sorted(set(sample_ids))
    undone = {
        r[0]
        for r in in_chunks(
            db, "SELECT undoes FROM decisions WHERE action = 'undo' AND sample_id IN ({})", ids
        )
    }
    votes: dict[str, list[tuple[int, int, str, str | None, str]]] = {i: [] for i in ids}
    for did, sid, uid, action, label, at in in_chunks(
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


def history(db: Database, sample_id: str) -> list[dict[str, Any]]:
    """Every decision on a sample with the reviewer's name, oldest first."""
    return list(
        db.query(
            "SELECT d.id, d.decided_at, d.action, d.label, d.undoes, u.username FROM decisions d "
            "LEFT JOIN users u ON u.id = d.user_id WHERE d.sample_id = ? ORDER BY d.id",
            [sample_id],
        )
    )


__all__ = [
    "ACTIONS",
    "STATES",
    "DecisionIn",
    "ReviewError",
    "UnknownSample",
    "decide",
    "derive",
    "history",
    "refresh_state",
    "undo_last",
]
