"""Durable commits of validated messages, many per transaction.

Order per batch, which is what makes acknowledge-after-commit safe:

1. every new image is written to the blob store with one file-system sync for the whole batch
   (``BlobStore.put_many``);
2. the sample rows, device updates, quarantine rows and counters are committed in one SQLite
   transaction (``store.batches.commit_batch``; WAL, synchronous=FULL);
3. only then does the caller acknowledge the messages to the broker.

A storage error (disk full, I/O error, database locked too long) raises ``StorageError`` before
anything is acknowledged: the caller backs off and retries the same batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from facetrove.collector.ingest.validate import Accepted, DeviceUpdate, Outcome, Rejected
from facetrove.collector.store.batches import BatchResult, commit_batch
from facetrove.collector.store.blobs import BlobStore, FileSystem
from facetrove.collector.store.db import Database, StoreError, is_disk_full
from facetrove.collector.store.samples import row_from_sample

log = logging.getLogger(__name__)

__all__ = ["BatchResult", "FileSystem", "StorageError", "Writer"]


class StorageError(RuntimeError):
    """Writing to disk or to the database failed; nothing of the batch may be acknowledged."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


class Writer:
    """Commits batches of validated messages to the blob store and the database."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        quarantine_max_rows: int,
        quarantine_head_bytes: int,
        fs: FileSystem | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.fs = fs or FileSystem()
        self.quarantine_max_rows = quarantine_max_rows
        self.quarantine_head_bytes = quarantine_head_bytes

    def commit(self, outcomes: Sequence[Outcome], received_at: str) -> BatchResult:
        """Write blobs, then commit rows for one batch.

        Raises:
            StorageError: nothing of this batch may be acknowledged; retry later.
        """
        accepted = [o for o in outcomes if isinstance(o, Accepted)]
        images: dict[str, bytes] = {}
        for item in accepted:
            for data, sha in _images(item):
                images.setdefault(sha, data)
        present = {sha: data for sha, data in images.items() if self.blobs.exists(sha)}
        try:
            self.blobs.put_many(images, self.fs)
        except OSError as exc:
            full = is_disk_full(exc)
            raise StorageError(f"writing images failed: {exc}", disk_full=full) from exc

        def check_images() -> None:
            # Files that were there, so not written: a prune or forget may have deleted them
            # since (it does so under the write lock this runs under). Rare: write them now.
            gone = {sha: data for sha, data in present.items() if not self.blobs.exists(sha)}
            if gone:
                log.warning("%d image file(s) deleted meanwhile: written again", len(gone))
                self.blobs.put_many(gone, self.fs)

        try:
            return commit_batch(
                self.db,
                (row_from_sample(a.sample, received_at, check_clock=True) for a in accepted),
                [o.message for o in outcomes if isinstance(o, DeviceUpdate)],
                (o for o in outcomes if isinstance(o, Rejected)),
                received_at,
                quarantine_head_bytes=self.quarantine_head_bytes,
                quarantine_max_rows=self.quarantine_max_rows,
                check_images=check_images if present else None,
            )
        except (StoreError, OSError) as exc:
            raise StorageError(
                f"committing rows failed: {exc}", disk_full=is_disk_full(exc)
            ) from exc


def _images(item: Accepted) -> list[tuple[bytes, str]]:
    header = item.sample.header
    images = [(item.sample.crop, header.crop.sha256)]
    if item.sample.frame is not None and header.frame is not None:
        images.append((item.sample.frame, header.frame.sha256))
    return images
