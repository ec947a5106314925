"""Forgetting a device: every row it sent (samples, their reviews, leases, quarantined messages,
its device row) in one transaction with an audit entry; then the image files no sample uses any
more. Counters stay (they count what happened, not what is kept)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import Database, audit, in_chunks, write_transaction


@dataclass
class Forgotten:
    """What one ``forget_device`` removed."""

    device_id: str
    before: str | None
    samples: int = 0
    decisions: int = 0
    quarantined: int = 0
    device_row: bool = False
    unused_images: list[str] = field(default_factory=list)  # sha256 of blobs to delete

    def summary(self) -> dict[str, Any]:
        return {
            "device": self.device_id,
            "before": self.before,
            "samples": self.samples,
            "decisions": self.decisions,
            "quarantined": self.quarantined,
            "device_row": self.device_row,
            "images": len(self.unused_images),
        }


def device_sample_ids(db: Database, device_id: str, before: str | None = None) -> list[str]:
    """Ids of the samples ``device_id`` sent (captured before ``before``, ISO UTC, if given)."""
    sql = "SELECT id FROM samples WHERE device_id = ?"
    args: list[Any] = [device_id]
    if before is not None:
        sql += " AND captured_at < ?"
        args.append(before)
    return [str(r[0]) for r in db.execute(sql, args).fetchall()]


def versions_holding(db: Database, sample_ids: Sequence[str]) -> list[str]:
    """Versions that contain any of ``sample_ids``, sorted."""
    rows = in_chunks(
        db, "SELECT DISTINCT version_id FROM version_samples WHERE sample_id IN ({})", sample_ids
    )
    return sorted({str(r[0]) for r in rows})


def forget_device(
    db: Database, device_id: str, before: str | None = None, user_id: int | None = None
) -> Forgotten:
    """Delete what ``device_id`` sent (before ``before`` if given) and audit it.

    Call after the versions holding these samples are deleted (``versions_holding``): a
    version's rows would keep the samples' ids. A byte-identical copy another device sent stays,
    and becomes the original the others point at.
    """
    done = Forgotten(device_id, before)
    with write_transaction(db):
        ids = device_sample_ids(db, device_id, before)
        done.samples, done.decisions, images = delete_samples_locked(db, ids)
        if before is None:
            done.quarantined = db.execute(
                "DELETE FROM quarantine WHERE device_id = ?", [device_id]
            ).rowcount
            done.device_row = (
                db.execute("DELETE FROM devices WHERE id = ?", [device_id]).rowcount > 0
            )
        else:
            db.execute(
                "UPDATE devices SET samples = (SELECT COUNT(*) FROM samples WHERE device_id = ?) "
                "WHERE id = ?",
                [device_id, device_id],
            )
        done.unused_images = unused_images(db, images)
        audit(db, user_id, "device.forget", device_id, json.dumps(done.summary()))
    return done


def delete_samples_locked(db: Database, ids: Sequence[str]) -> tuple[int, int, set[str]]:
    """Delete samples with their decisions, leases and version rows (inside the caller's
    transaction); returns (samples, decisions, sha256 of the images they used)."""
    images = {
        sha
        for row in in_chunks(
            db, "SELECT crop_sha256, frame_sha256 FROM samples WHERE id IN ({})", ids
        )
        for sha in row
        if sha
    }
    decisions = _delete(db, "decisions", "sample_id", ids)
    _delete(db, "leases", "sample_id", ids)
    _delete(db, "version_samples", "sample_id", ids)
    _repoint_duplicates(db, ids)
    return _delete(db, "samples", "id", ids), decisions, images


def unused_images(db: Database, images: set[str]) -> list[str]:
    """The sha256 among ``images`` that no sample's crop or frame uses any more."""
    shas = sorted(images)
    still = {
        str(r[0])
        for column in ("crop_sha256", "frame_sha256")
        for r in in_chunks(db, f"SELECT {column} FROM samples WHERE {column} IN ({{}})", shas)
    }
    return sorted(images - still)


def delete_unused_files(db: Database, blobs: BlobStore, images: Sequence[str]) -> int:
    """Delete the image files among ``images`` that no sample uses; returns how many.

    Each check and its deletes hold the store's write lock: ingest writes an image only if its
    file is missing and then commits the rows that use it, so a file found unused by a
    transaction that committed before could already be wanted again (a re-sent sample, a
    byte-identical crop); ingest checks the files of its batch again under the same lock
    (``commit_batch(check_images=...)``).
    """
    deleted = 0
    for start in range(0, len(images), 500):
        with write_transaction(db):
            for sha in unused_images(db, set(images[start : start + 500])):
                path = blobs.path(sha)
                if path.exists():
                    path.unlink(missing_ok=True)
                    deleted += 1
    return deleted


def _delete(db: Database, table: str, column: str, ids: Sequence[str]) -> int:
    n = 0
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        n += db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", chunk).rowcount
    return n


def _repoint_duplicates(db: Database, ids: Sequence[str]) -> None:
    """Copies (of other devices) of a forgotten sample's crop: the oldest becomes the original."""
    gone = set(ids)
    rows = in_chunks(
        db,
        "SELECT id, duplicate_of FROM samples WHERE duplicate_of IN ({}) ORDER BY received_at, id",
        ids,
    )
    heads: dict[str, str] = {}
    for sid, original in rows:
        if sid in gone:
            continue
        head = heads.setdefault(original, sid)
        db.execute(
            "UPDATE samples SET duplicate_of = ? WHERE id = ?", [None if head == sid else head, sid]
        )
