"""Retention: the rejected and the unreviewed (pending) samples that a policy may delete, oldest
first, and their deletion with counters and an audit entry. Confirmed samples are never
candidates, nor any sample a dataset version holds."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from facetrove.collector.store.db import Database, audit, write_transaction
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


def prune(db: Database, doomed: Mapping[str, Sequence[str]]) -> tuple[dict[str, int], list[str]]:
    """Delete the samples of ``doomed`` (``"<state>_<age|size>" -> ids``) in one transaction,
    count them (counters ``retention.<key>``) and audit; returns the counts and the images no
    sample uses any more (for the caller to delete)."""
    counts = {key: len(ids) for key, ids in doomed.items() if ids}
    if not counts:
        return {}, []
    with write_transaction(db):
        images: set[str] = set()
        for ids in doomed.values():
            images |= delete_samples_locked(db, list(ids))[2]
        bump_counters(db, {f"retention.{key}": n for key, n in counts.items()})
        unused = unused_images(db, images)
        audit(db, None, "retention.prune", "samples", json.dumps(counts | {"images": len(unused)}))
    return counts, unused
