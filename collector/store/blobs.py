"""Content-addressed blob store for images: ``<root>/<aa>/<sha256>.jpg``.

One level of 256 folders: enough to keep folders small for millions of images (about 4,000 a
folder at a million), and after the first few hundred images ingest never creates a folder again
(two levels, 65,536 folders, made a new folder for nearly every image and cost ingest about a
third of its throughput).

A blob is written to a temporary file, fsynced, then atomically renamed into place, so a reader
never sees a partial image and a crash leaves at most a stray temporary file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class BlobStore:
    """Images stored by the sha256 of their bytes."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

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

    def get(self, sha256: str) -> bytes:
        """The bytes of a stored blob. Raises ``FileNotFoundError`` if absent."""
        return self.path(sha256).read_bytes()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
