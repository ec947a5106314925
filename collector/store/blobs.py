"""Content-addressed blob store for images: ``<root>/<aa>/<sha256>.jpg``.

One level of 256 folders: enough to keep folders small for millions of images (about 4,000 a
folder at a million), and after the first few hundred images ingest never creates a folder again
(two levels, 65,536 folders, made a new folder for nearly every image and cost ingest about a
third of its throughput).

A blob is written to a temporary file, fsynced, then atomically renamed into place, so a reader
never sees a partial image and a crash leaves at most a stray temporary file. ``put`` does this
for one image; ``put_many`` for a batch with one file-system sync per batch (ingest's path: data
first, then names, then the caller commits the rows that reference them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path


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


class BlobStore:
    """Images stored by the sha256 of their bytes."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._fs: FileSystem | None = None

    def path(self, sha256: str, suffix: str = ".jpg") -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put(self, data: bytes, sha256: str | None = None, *, fsync: bool = True) -> str:
        """Store ``data`` and return its sha256; a blob already present is not rewritten."""
        digest = hashlib.sha256(data).hexdigest()
        if sha256 is not None and sha256 != digest:
            raise ValueError("blob bytes do not match the sha256 given")
        final = self.path(digest)
        if final.exists():
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if fsync:
            _fsync_dir(final.parent)
        return digest

    def put_many(self, images: Mapping[str, bytes], fs: FileSystem | None = None) -> int:
        """Store a batch of images (``sha256 -> bytes``) durably; returns how many were new.

        Every new image goes to a temporary file, the file system is synced once, then the
        files are renamed into place and synced again: a crash can leave a stray temporary
        file, never a named blob whose bytes did not reach the disk. On any error no blob of
        the batch is left half-written and the temporary files are removed.

        Raises:
            OSError: writing or syncing failed (e.g. ``ENOSPC``).
        """
        if fs is None:
            fs = self._fs = self._fs or FileSystem()
        todo = {sha: data for sha, data in images.items() if not self.path(sha).exists()}
        if not todo:
            return 0
        temps: list[tuple[Path, Path]] = []
        try:
            for sha, data in todo.items():
                final = self.path(sha)
                temps.append((fs.write_temp(final.parent, data), final))
            dirs = sorted({final.parent for _, final in temps})
            fs.sync(self.root, dirs)
            for tmp, final in temps:
                fs.rename(tmp, final)
            fs.sync(self.root, dirs)
        except BaseException:
            for tmp, _ in temps:
                tmp.unlink(missing_ok=True)
            raise
        return len(todo)

    def get(self, sha256: str) -> bytes:
        """The bytes of a stored blob. Raises ``FileNotFoundError`` if absent."""
        return self.path(sha256).read_bytes()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
