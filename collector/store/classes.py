"""The project's classes: their order (number keys), renames, and confirmed counts per class."""

from __future__ import annotations

import json
import re

from facetrove.collector.store.db import Database, audit, now_iso, write_transaction
from facetrove.collector.store.errors import ReviewError
from facetrove.collector.store.samples import COUNTED

MAX_CLASSES = 64


def class_names(db: Database) -> list[str]:
    """The project's active classes in display order (number key n picks the n-th)."""
    return [
        r[0]
        for r in db.execute(
            "SELECT name FROM classes WHERE active = 1 ORDER BY position, name"
        ).fetchall()
    ]


def class_aliases(db: Database) -> dict[str, str]:
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


def confirmed_counts(db: Database) -> dict[str, int]:
    """Confirmed samples per class, byte-identical copies not counted (a partial index)."""
    return dict(
        db.execute(
            "SELECT label, COUNT(*) FROM samples WHERE state = 'confirmed' AND label IS NOT NULL "
            f"AND {COUNTED} GROUP BY label"
        ).fetchall()
    )


#: A class name becomes a folder in exports and a cell in CSVs: letters, digits, '_', '-', '.'
#: and spaces, starting with a letter or digit (so never '..', a path, or a formula).
CLASS_NAME = re.compile(r"[^\W_][\w .-]{0,63}")
#: Names Windows cannot use as a folder, with or without an extension.
_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)


def class_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a class name, else ``None`` (every entry point uses this)."""
    if not CLASS_NAME.fullmatch(name) or name.endswith((".", " ")):
        return (
            f"class name {name[:64]!r} is not allowed: use 1-64 letters, digits, '_', '-', '.' "
            "or spaces, starting with a letter or digit and not ending with '.' or a space"
        )
    if _RESERVED.fullmatch(name):
        return f"class name {name!r} is reserved on Windows (a folder cannot have that name)"
    return None


def _check_class_name(name: str) -> str:
    name = name.strip()
    problem = class_name_problem(name)
    if problem:
        raise ReviewError(problem)
    return name


def add_class(db: Database, name: str, user_id: int | None) -> str:
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


def reorder_classes(db: Database, order: list[str], user_id: int | None) -> list[str]:
    """Put the active classes in ``order`` (every active class once). Number keys, the palette
    and the default class order of new versions follow; built versions keep theirs."""
    with write_transaction(db):
        active = class_names(db)
        if sorted(order) != sorted(active) or len(set(order)) != len(order):
            missing = [c for c in active if c not in order]
            unknown = [c for c in order if c not in active]
            twice = sorted({c for c in order if order.count(c) > 1})
            parts = [
                f"{what}: {', '.join(names)}"
                for what, names in (("missing", missing), ("unknown", unknown), ("twice", twice))
                if names
            ]
            raise ReviewError("the new order must list every class once (" + "; ".join(parts) + ")")
        for position, name in enumerate(order, start=1):
            db.execute(
                "UPDATE classes SET position = ? WHERE name = ? AND active = 1", [position, name]
            )
        audit(db, user_id, "class.reorder", ",".join(order))
    return class_names(db)


def rename_class(db: Database, old: str, new: str, user_id: int | None) -> str:
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
