"""Rows of imported samples: what is already there, storing a batch, the tags imports recorded.

An imported sample carries ``selection = 'import'``, the import's ``tag`` and a unique
``import_key`` (the file's sha256, plus the box for an annotated frame), so importing the same
thing twice adds nothing. Imported as confirmed, it gets one ``import`` decision: the review
history says where its label came from, and a reviewer's later decision overrides it as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from facetrove.collector.store.classes import class_aliases, class_names
from facetrove.collector.store.db import Database, audit, in_chunks, now_iso, write_transaction
from facetrove.collector.store.samples import InsertResult, insert_samples
from facetrove.collector.store.stats import bump_counters

IMPORT_ACTION = "import"


def known_import_keys(db: Database, keys: Sequence[str]) -> set[str]:
    """The ones of ``keys`` already stored."""
    rows = in_chunks(db, "SELECT import_key FROM samples WHERE import_key IN ({})", list(keys))
    return {r[0] for r in rows}


def known_crops(db: Database, shas: Sequence[str]) -> set[str]:
    """The ones of these crop digests some stored sample already has (exact-byte duplicates)."""
    rows = in_chunks(db, "SELECT crop_sha256 FROM samples WHERE crop_sha256 IN ({})", list(shas))
    return {r[0] for r in rows}


def fill_subjects(db: Database, subjects: Mapping[str, str | None]) -> int:
    """Give already imported samples (by import key) the subject they lack; a subject they
    have is kept. Returns how many samples got one."""
    changed = 0
    with write_transaction(db):
        for key, subject in subjects.items():
            if subject:
                cur = db.execute(
                    "UPDATE samples SET subject = ? WHERE import_key = ? AND subject IS NULL",
                    [subject, key],
                )
                changed += cur.rowcount
    return changed


def class_lookup(db: Database) -> dict[str, str]:
    """Lower-case class name (active ones and old names) -> the active class name."""
    out = {old.lower(): new for old, new in class_aliases(db).items()}
    out.update({name.lower(): name for name in class_names(db)})
    return out


def store_imported(
    db: Database,
    rows: Iterable[Mapping[str, Any]],
    *,
    confirm: bool,
    user_id: int | None,
    detail: str,
) -> InsertResult:
    """Insert imported sample rows in one transaction; confirmed ones get an ``import`` decision
    with their label. Rows whose id or import_key is already stored are left as they are."""
    rows = list(rows)
    at = now_iso()
    with write_transaction(db):
        result = insert_samples(db, rows)
        new = set(result.inserted)
        confirmed = 0
        for row in rows:
            if not confirm or row["id"] not in new or not row.get("provided_label"):
                continue
            db.execute(
                "INSERT INTO decisions (sample_id, user_id, decided_at, action, label) "
                "VALUES (?, ?, ?, ?, ?)",
                [row["id"], user_id, at, IMPORT_ACTION, row["provided_label"]],
            )
            db.execute(
                "UPDATE samples SET state = 'confirmed', label = ?, decided_at = ? WHERE id = ?",
                [row["provided_label"], at, row["id"]],
            )
            confirmed += 1
        if new:
            audit(db, user_id, "import", f"{len(new)} samples", detail)
        bump_counters(db, {"import.samples": len(new), "import.confirmed": confirmed})
    return result


def tag_counts(db: Database) -> list[tuple[str, int]]:
    """Every tag imports recorded, with its number of samples, by name."""
    return [
        (str(t), int(n))
        for t, n in db.execute(
            "SELECT tag, COUNT(*) FROM samples WHERE tag IS NOT NULL GROUP BY tag ORDER BY tag"
        ).fetchall()
    ]
