"""The model registry: trained pre-label models, their status, and which device runs which.

A model is registered once (``candidate``) when training finishes. A rollout assigns it to
chosen devices (it becomes ``canary``) or to every device (``deployed``); a model no device is
assigned any more becomes ``retired`` (its file is no longer served). ``model_events`` keeps the
rollout history, so a rollback can go back to any earlier model.

The model shipped with facetrove is the entry ``bundled``: deployed until a rollout to every
device replaces it, and a rollout or rollback target like any other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facetrove.collector.store.db import Database, dict_rows, now_iso, write_transaction

ALL = "*"
BUNDLED = "bundled"  # the model shipped with facetrove: what devices run until a rollout to all
STATUSES = ("candidate", "canary", "deployed", "retired")


class UnknownModel(LookupError):
    """No registered model has that id."""


class ModelExists(ValueError):
    """A model with that id is registered with other bytes."""


@dataclass(frozen=True)
class Model:
    """One row of the registry."""

    id: str
    sha256: str
    size: int
    parent: str | None
    version_id: str | None
    classes: list[str]
    metrics: dict[str, Any]
    status: str
    created_at: str
    registered_at: str
    status_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Model:
        fields = {k: v for k, v in row.items() if k not in ("path", "notes")}
        return cls(**{**fields, "classes": json.loads(row["classes"] or "[]"),
                      "metrics": json.loads(row["metrics"] or "{}")})  # fmt: skip


def register(
    db: Database,
    model_id: str,
    *,
    sha256: str,
    size: int,
    parent: str | None,
    version_id: str | None,
    classes: Sequence[str],
    metrics: dict[str, Any],
    created_at: str,
) -> bool:
    """Add a model as ``candidate``; False if it is already registered with the same bytes.

    Raises:
        ModelExists: the id is registered with another sha256.
    """
    now = now_iso()
    with write_transaction(db):
        row = db.execute("SELECT sha256 FROM models WHERE id = ?", [model_id]).fetchone()
        if row is not None:
            if row[0] != sha256:
                raise ModelExists(
                    f"model {model_id!r} is registered with sha256 {row[0][:12]}..., "
                    f"its file now has {sha256[:12]}..."
                )
            return False
        db.execute(
            "INSERT INTO models (id, sha256, size, parent, version_id, classes, metrics, status,"
            " created_at, registered_at, status_at, path)"
            " VALUES (?,?,?,?,?,?,?,'candidate',?,?,?,?)",
            [model_id, sha256, size, parent, version_id, json.dumps(list(classes)),
             json.dumps(metrics), created_at, now, now, f"models/{model_id}"],
        )  # fmt: skip
    return True


def ensure_bundled(db: Database, *, sha256: str, size: int, classes: Sequence[str]) -> None:
    """Register the shipped model as ``bundled`` (deployed unless another model was rolled out
    to every device), or follow its file after an upgrade of facetrove (new sha256)."""
    with write_transaction(db):
        row = db.execute("SELECT sha256 FROM models WHERE id = ?", [BUNDLED]).fetchone()
        if row is not None and row[0] == sha256:
            return
        now = now_iso()
        if row is not None:
            db.execute(
                "UPDATE models SET sha256 = ?, size = ?, classes = ? WHERE id = ?",
                [sha256, size, json.dumps(list(classes)), BUNDLED],
            )
            return
        db.execute(
            "INSERT INTO models (id, sha256, size, parent, version_id, classes, metrics, status,"
            " created_at, registered_at, status_at, path)"
            " VALUES (?,?,?,NULL,NULL,?,'{}','deployed','',?,?,'')",
            [BUNDLED, sha256, size, json.dumps(list(classes)), now, now],
        )
        _restatus(db, now)


def list_models(db: Database) -> list[Model]:
    """Every registered model, oldest first."""
    cur = db.execute("SELECT * FROM models ORDER BY created_at, id")
    return [Model.from_row(r) for r in dict_rows(cur)]


def get(db: Database, model_id: str) -> Model:
    """One model. Raises UnknownModel."""
    rows = dict_rows(db.execute("SELECT * FROM models WHERE id = ?", [model_id]))
    if not rows:
        raise UnknownModel(model_id)
    return Model.from_row(rows[0])


def servable(db: Database, model_id: str) -> Model | None:
    """The model if devices may download it (registered and not retired), else None."""
    try:
        model = get(db, model_id)
    except UnknownModel:
        return None
    return None if model.status == "retired" else model


def servable_to(db: Database, device_id: str) -> str | None:
    """The one model ``device_id`` may download: its assignment (own, else every device's, else
    the bundled model), if registered and not retired; else None."""
    model_id = model_for(db, device_id) or BUNDLED
    return model_id if servable(db, model_id) is not None else None


def assignments(db: Database) -> dict[str, str]:
    """device id (or ``*``) -> the model it should run."""
    rows = db.execute("SELECT device_id, model_id FROM model_assignments").fetchall()
    return {str(d): str(m) for d, m in rows}


def rolled_out_to_all(db: Database) -> str | None:
    """The model assigned to every device; None if none was, or the store predates the registry."""
    try:
        return assignments(db).get(ALL)
    except sqlite3.OperationalError:  # no model_assignments table: nothing was ever rolled out
        return None


def model_for(db: Database, device_id: str) -> str | None:
    """The model a device should run: its own assignment, else the one for all, else None."""
    table = assignments(db)
    return table.get(device_id, table.get(ALL))


def deployed(db: Database) -> str:
    """The model every device without its own assignment runs: the one rolled out to all, else
    the bundled model."""
    return assignments(db).get(ALL, BUNDLED)


def assign(db: Database, model_id: str, devices: Sequence[str] | None, action: str) -> None:
    """Assign ``model_id`` to ``devices`` (None: every device, replacing all own assignments),
    record the event and recompute every model's status, in one transaction.

    Raises:
        UnknownModel: ``model_id`` is not registered.
    """
    now = now_iso()
    with write_transaction(db):
        if db.execute("SELECT 1 FROM models WHERE id = ?", [model_id]).fetchone() is None:
            raise UnknownModel(model_id)
        if devices is None:
            db.execute("DELETE FROM model_assignments")
            targets: list[str] = [ALL]
        else:
            targets = list(devices)
        for device in targets:
            db.execute(
                "INSERT INTO model_assignments (device_id, model_id, assigned_at) VALUES (?,?,?)"
                " ON CONFLICT(device_id) DO UPDATE SET model_id = excluded.model_id,"
                " assigned_at = excluded.assigned_at",
                [device, model_id, now],
            )
        db.execute(
            "INSERT INTO model_events (at, model_id, action, devices) VALUES (?,?,?,?)",
            [now, model_id, action, json.dumps(targets)],
        )
        _restatus(db, now)


def _restatus(db: Database, now: str) -> None:
    table = assignments(db)
    everyone = table.get(ALL, BUNDLED)
    canary = {m for d, m in table.items() if d != ALL}
    for model_id, status in db.execute("SELECT id, status FROM models").fetchall():
        if model_id == everyone:
            new = "deployed"
        elif model_id in canary:
            new = "canary"
        elif status in ("canary", "deployed"):
            new = "retired"
        else:
            new = status
        if new != status:
            db.execute(
                "UPDATE models SET status = ?, status_at = ? WHERE id = ?", [new, now, model_id]
            )


def events(db: Database, model_id: str | None = None) -> list[dict[str, Any]]:
    """The rollout history, oldest first (of one model, or all)."""
    sql = "SELECT at, model_id, action, devices FROM model_events"
    cur = (
        db.execute(sql + " WHERE model_id = ? ORDER BY id", [model_id])
        if model_id
        else (db.execute(sql + " ORDER BY id"))
    )
    rows = dict_rows(cur)
    for row in rows:
        row["devices"] = json.loads(row["devices"])
    return rows


def previous_deployed(db: Database) -> str | None:
    """The model deployed to all devices before the current one (a rollback's default target):
    the bundled model before the first rollout to all."""
    current = deployed(db)
    for row in reversed(events(db)):
        if row["devices"] == [ALL] and row["model_id"] != current:
            return str(row["model_id"])
    return BUNDLED if current != BUNDLED else None
