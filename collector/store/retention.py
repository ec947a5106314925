"""Retention: the rejected and the unreviewed (pending) samples that a policy may delete, oldest
first, and their deletion with counters and an audit entry. Confirmed samples are never
candidates, nor any sample a dataset version holds."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from facetrove.collector.store.db import (
    Database,
    StoreError,
    audit,
    in_chunks,
    is_disk_full,
    write_transaction,
)
from facetrove.collector.store.forget import delete_samples_locked, unused_images
from facetrove.collector.store.stats import bump_counters

PRUNABLE = ("rejected", "pending")


def candidates(db: Database, state: str) -> list[dict[str, Any]]:
    """``id, received_at, crop_sha256, frame_sha256`` of the samples in ``state`` (rejected or
    pending) that no version holds, oldest received first."""
    if state not in PRUNABLE:
        raise ValueError(f"retention never deletes {state!r} samples")
    rows = db.execute(
        "SELECT id, received_at, crop_sha256, frame_sha256 FROM samples WHERE state = ? "
        "AND id NOT IN (SELECT sample_id FROM version_samples) ORDER BY received_at, id",
        [state],
    ).fetchall()
    keys = ("id", "received_at", "crop_sha256", "frame_sha256")
    return [dict(zip(keys, r, strict=True)) for r in rows]


MAX_CHUNK = 500  # samples per transaction on a disk with room


def prune(
    db: Database,
    doomed: Mapping[str, Sequence[str]],
    on_chunk: Callable[[list[str]], None] | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Delete the samples of ``doomed`` (``"<state>_<age|size>" -> ids``), count them (counters
    ``retention.<key>``) and audit; returns the counts and the images no sample uses any more.

    The ids were chosen before: each transaction keeps those that are no longer candidates (a
    reviewer decided on it, a version took it, it is gone). Deleting needs room in the WAL
    (every index of a sample is touched: some 40 KB a sample), so it goes in transactions that
    start small and double up to ``MAX_CHUNK``; ``on_chunk`` gets each one's unused images
    right after its commit (to delete their files), then the WAL is checkpointed. On a full
    disk a transaction is tried again at a quarter of its size, down to one sample: every
    chunk frees room for the next. The audit entry (totals) is written at the end, or when a
    transaction fails for good.

    Raises:
        StoreError: a transaction of one sample failed (e.g. no room at all), or failed for
            another reason; what was committed before stays deleted and counted (and audited,
            if the audit entry can still be written).
    """
    counts: dict[str, int] = {}
    unused: list[str] = []
    size = 16
    try:
        for key, ids in doomed.items():
            state = key.split("_", 1)[0]
            start = 0
            while start < len(ids):
                part = ids[start : start + size]
                try:
                    done, images = _prune_chunk(db, key, state, part)
                except StoreError as exc:
                    if not is_disk_full(exc) or size == 1:
                        raise
                    checkpoint(db)
                    size = max(1, size // 4)
                    continue
                start += len(part)
                size = min(2 * size, MAX_CHUNK)
                if done:
                    counts[key] = counts.get(key, 0) + done
                unused += images
                if on_chunk is not None:
                    on_chunk(images)
                checkpoint(db)
    finally:
        if counts:
            detail = json.dumps(counts | {"images": len(unused)})
            with contextlib.suppress(StoreError), write_transaction(db):
                audit(db, None, "retention.prune", "samples", detail)
    return counts, unused


def _prune_chunk(db: Database, key: str, state: str, ids: Sequence[str]) -> tuple[int, list[str]]:
    with write_transaction(db):
        still = [
            str(r[0])
            for r in in_chunks(
                db,
                "SELECT id FROM samples WHERE id IN ({}) AND state = ? "
                "AND id NOT IN (SELECT sample_id FROM version_samples)",
                ids,
                [state],
            )
        ]
        if not still:
            return 0, []
        images = delete_samples_locked(db, still)[2]
        bump_counters(db, {f"retention.{key}": len(still)})
        return len(still), unused_images(db, images)


def checkpoint(db: Database) -> None:
    """Copy the WAL into the database file and truncate it (gives its disk space back); a busy
    reader only makes it partial."""
    with contextlib.suppress(StoreError):
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
