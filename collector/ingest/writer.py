"""Durable commits of validated messages, many per transaction.

Order per batch, which is what makes acknowledge-after-commit safe:

1. every new image is written to a temporary file, the file system is synced once, then the
   files are renamed into the blob store and the directories synced (one sync per batch instead
   of one per file);
2. the sample rows, device updates, quarantine rows and counters are committed in one SQLite
   transaction (WAL, synchronous=FULL);
3. only then does the caller acknowledge the messages to the broker.

A storage error (disk full, I/O error, database locked too long) raises ``StorageError`` before
anything is acknowledged: the caller backs off and retries the same batch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from facetrove.collector.ingest.devices import apply_update
from facetrove.collector.ingest.quarantine import add_rejections
from facetrove.collector.ingest.validate import Accepted, DeviceUpdate, Outcome, Rejected
from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.samples import bump_counters, insert_samples, row_from_sample

log = logging.getLogger(__name__)


class StorageError(RuntimeError):
    """Writing to disk or to the database failed; nothing of the batch may be acknowledged."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


class FileSystem:
    """The file operations a batch of blobs needs; a test double can inject faults here."""

    def __init__(self) -> None:
        libc_name = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None
        self._has_syncfs = self._libc is not None and hasattr(self._libc, "syncfs")
        # Directories known to exist: blob folders are never removed while ingest runs.
        self._dirs: set[Path] = set()

    def write_temp(self, directory: Path, data: bytes) -> Path:
        """Write ``data`` to a new temporary file in ``directory`` (not yet synced)."""
        if directory not in self._dirs:
            directory.mkdir(parents=True, exist_ok=True)
            self._dirs.add(directory)
        tmp = directory / f".tmp-{secrets.token_hex(8)}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if not self._has_syncfs:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp

    def sync(self, root: Path, directories: Sequence[Path] = ()) -> None:
        """Make everything written under ``root`` durable (one syncfs, else fsync per dir)."""
        if self._has_syncfs and self._libc is not None:
            fd = os.open(root, os.O_RDONLY)
            try:
                if self._libc.syncfs(fd) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err), str(root))
            finally:
                os.close(fd)
            return
        for directory in directories:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def rename(self, src: Path, dst: Path) -> None:
        """Atomically move ``src`` to ``dst``."""
        os.replace(src, dst)


@dataclass
class BatchResult:
    """What one committed batch did, for logs and counters."""

    stored: int = 0
    redelivered: int = 0
    duplicate_crops: int = 0
    device_updates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


class Writer:
    """Commits batches of validated messages to the blob store and the database."""

    def __init__(
        self,
        db: sqlite_utils.Database,
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
        try:
            self._write_blobs(accepted)
        except OSError as exc:
            raise StorageError(
                f"writing images failed: {exc}", disk_full=exc.errno == errno.ENOSPC
            ) from exc
        try:
            return self._commit_rows(outcomes, accepted, received_at)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            full = "full" in str(exc) or getattr(exc, "errno", None) == errno.ENOSPC
            raise StorageError(f"committing rows failed: {exc}", disk_full=full) from exc

    def _write_blobs(self, accepted: Sequence[Accepted]) -> None:
        pending: dict[str, bytes] = {}
        for item in accepted:
            for data, sha in _images(item):
                if sha not in pending and not self.blobs.path(sha).exists():
                    pending[sha] = data
        if not pending:
            return
        temps: list[tuple[Path, Path]] = []
        try:
            for sha, data in pending.items():
                final = self.blobs.path(sha)
                temps.append((self.fs.write_temp(final.parent, data), final))
            # Data first, then names: a crash can leave a stray temp file, never a named blob
            # whose bytes did not reach the disk.
            dirs = sorted({final.parent for _, final in temps})
            self.fs.sync(self.blobs.root, dirs)
            for tmp, final in temps:
                self.fs.rename(tmp, final)
            self.fs.sync(self.blobs.root, dirs)
        except BaseException:
            for tmp, _ in temps:
                tmp.unlink(missing_ok=True)
            raise

    def _commit_rows(
        self, outcomes: Sequence[Outcome], accepted: Sequence[Accepted], received_at: str
    ) -> BatchResult:
        result = BatchResult()
        conn = self.db.conn
        # IMMEDIATE takes the write lock up front, so two ingest processes sharing the store
        # queue on busy_timeout instead of failing a lock upgrade half-way.
        conn.execute("BEGIN IMMEDIATE")
        try:
            ins = insert_samples(
                self.db, (row_from_sample(a.sample, received_at) for a in accepted)
            )
            result.stored = len(ins.inserted)
            result.redelivered = len(ins.already)
            result.duplicate_crops = len(ins.duplicates)
            for o in outcomes:
                if isinstance(o, DeviceUpdate):
                    apply_update(self.db, o.message, received_at)
                    result.device_updates += 1
            result.rejected = add_rejections(
                self.db,
                (o for o in outcomes if isinstance(o, Rejected)),
                received_at,
                head_bytes=self.quarantine_head_bytes,
                max_rows=self.quarantine_max_rows,
            )
            bump_counters(
                self.db,
                {
                    "samples.stored": result.stored,
                    "samples.redelivered": result.redelivered,
                    "samples.duplicate_crop": result.duplicate_crops,
                    "devices.updates": result.device_updates,
                    **result.rejected,
                },
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result


def _images(item: Accepted) -> list[tuple[bytes, str]]:
    header = item.sample.header
    images = [(item.sample.crop, header.crop.sha256)]
    if item.sample.frame is not None and header.frame is not None:
        images.append((item.sample.frame, header.frame.sha256))
    return images
