"""One ingest batch committed in one transaction: samples, device updates, quarantine, counters.

Ingest writes the batch's images first (``BlobStore.put_many``), then calls ``commit_batch``, and
acknowledges the messages to the broker only after it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from facetrove.collector.store.db import Database, write_transaction
from facetrove.collector.store.devices import apply_update
from facetrove.collector.store.quarantine import RejectedMessage, add_rejections
from facetrove.collector.store.samples import insert_samples
from facetrove.collector.store.stats import bump_counters
from facetrove.wire import Stats, Status


@dataclass
class BatchResult:
    """What one committed batch did, for logs and counters."""

    stored: int = 0
    redelivered: int = 0
    duplicate_crops: int = 0
    device_updates: int = 0
    clock_skewed: int = 0  # new samples whose device clock looks wrong (stored, flagged)
    rejected: dict[str, int] = field(default_factory=dict)


def commit_batch(
    db: Database,
    samples: Iterable[Mapping[str, Any]],
    device_messages: Sequence[Status | Stats],
    rejected: Iterable[RejectedMessage],
    received_at: str,
    *,
    quarantine_head_bytes: int,
    quarantine_max_rows: int,
    check_images: Callable[[], None] | None = None,
) -> BatchResult:
    """Commit sample rows, device updates, quarantine rows and counters all or nothing.

    ``check_images`` runs first inside the transaction, under the write lock that deleting
    unused image files takes too (``forget.delete_unused_files``): the place to make sure that
    the files the rows will point at are still there.

    Raises:
        StoreError: the transaction failed and was rolled back (nothing of the batch is stored).
        OSError: from ``check_images`` (rolled back too).
    """
    result = BatchResult()
    with write_transaction(db):
        if check_images is not None:
            check_images()
        ins = insert_samples(db, samples)
        result.stored = len(ins.inserted)
        result.redelivered = len(ins.already)
        result.duplicate_crops = len(ins.duplicates)
        result.clock_skewed = len(ins.clock_skewed)
        for message in device_messages:
            apply_update(db, message, received_at)
            result.device_updates += 1
        result.rejected = add_rejections(
            db,
            rejected,
            received_at,
            head_bytes=quarantine_head_bytes,
            max_rows=quarantine_max_rows,
        )
        bump_counters(
            db,
            {
                "samples.stored": result.stored,
                "samples.redelivered": result.redelivered,
                "samples.duplicate_crop": result.duplicate_crops,
                "samples.clock_skew": result.clock_skewed,
                "devices.updates": result.device_updates,
                **result.rejected,
            },
        )
    return result
