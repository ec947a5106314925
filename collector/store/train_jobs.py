"""Trainings started from the web app (``collector/web/train_jobs.py``), one row each, so a job
and its outcome outlive the process that ran it.

A job is ``running`` from its start to ``done`` or ``failed``. One that was running when its
collector died is set ``interrupted`` by the next app that starts on this store (the web side
decides which ones: their process is gone). The models a job wrote are registry rows and files,
listed on their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from facetrove.collector.store.db import Database, dict_rows, now_iso

ACTIVE = "running"
STATUSES = ("running", "done", "failed", "interrupted")


@dataclass
class TrainJob:
    """One training run started from a version's page."""

    id: str
    version_id: str
    name: str
    epochs: int
    status: str = ACTIVE
    epoch: int = 0
    loss: float | None = None
    valid_acc: str = "-"
    pid: int | None = None
    returncode: int | None = None
    error: str | None = None
    log_tail: list[str] = field(default_factory=list)
    created_at: str = ""
    finished_at: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TrainJob:
        return cls(**{**row, "log_tail": json.loads(row["log_tail"] or "[]")})


def add(db: Database, job_id: str, version_id: str, name: str, epochs: int) -> TrainJob:
    """Record a job that starts now (``running``)."""
    job = TrainJob(job_id, version_id, name, epochs, created_at=now_iso())
    db.execute(
        "INSERT INTO train_jobs (id, version_id, name, epochs, status, created_at)"
        " VALUES (?,?,?,?,?,?)",
        [job.id, version_id, name, epochs, ACTIVE, job.created_at],
    )
    return job


def started(db: Database, job_id: str, pid: int) -> None:
    """The training process of a job runs with ``pid``."""
    db.execute("UPDATE train_jobs SET pid = ? WHERE id = ?", [pid, job_id])


def progress(db: Database, job: TrainJob) -> None:
    """Save a running job's epoch, loss, valid accuracy and last lines."""
    db.execute(
        "UPDATE train_jobs SET epoch = ?, loss = ?, valid_acc = ?, log_tail = ? WHERE id = ?",
        [job.epoch, job.loss, job.valid_acc, json.dumps(job.log_tail), job.id],
    )


def finish(db: Database, job: TrainJob, status: str) -> None:
    """A job ended (``done``, ``failed`` or ``interrupted``) with ``job``'s figures and error."""
    job.status, job.finished_at = status, now_iso()
    db.execute(
        "UPDATE train_jobs SET status = ?, epoch = ?, loss = ?, valid_acc = ?, log_tail = ?,"
        " returncode = ?, error = ?, finished_at = ? WHERE id = ?",
        [status, job.epoch, job.loss, job.valid_acc, json.dumps(job.log_tail), job.returncode,
         job.error, job.finished_at, job.id],
    )  # fmt: skip


def get(db: Database, job_id: str) -> TrainJob | None:
    rows = dict_rows(db.execute("SELECT * FROM train_jobs WHERE id = ?", [job_id]))
    return TrainJob.from_row(rows[0]) if rows else None


def running(db: Database) -> list[TrainJob]:
    """Jobs recorded as running (by this process or by one that died)."""
    cur = db.execute("SELECT * FROM train_jobs WHERE status = ? ORDER BY created_at", [ACTIVE])
    return [TrainJob.from_row(r) for r in dict_rows(cur)]


def recent(db: Database, limit: int = 20) -> list[TrainJob]:
    """The latest jobs, newest first."""
    cur = db.execute("SELECT * FROM train_jobs ORDER BY created_at DESC, id LIMIT ?", [limit])
    return [TrainJob.from_row(r) for r in dict_rows(cur)]
