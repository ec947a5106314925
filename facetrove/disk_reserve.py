"""A reserve of disk space beside a SQLite file, for the day the disk fills to the last byte.

SQLite needs free space for any write, a delete included (its WAL grows first), and even to
open a file in WAL mode (the ``-shm`` index). On a full disk the agent's outbox could then
neither start, nor evict its least valuable samples, nor delete the ones the collector
confirmed, and ``collector prune`` could not open the store to free space. So both keep a file
of zeros while there is room (``outbox.db.reserve``; ``.reserve`` in the collector's data
folder) and delete it when opening or a write fails for lack of space: that then goes through,
and room is made the usual way. The file comes back when the disk has room for it again.
Shared by both sides, like ``logs.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

RESERVE_SUFFIX = ".reserve"
SPARE = 64 * 1024  # made only when the disk has this much room beside it


class DiskReserve:
    """``size`` bytes held in ``path`` until :meth:`release`."""

    def __init__(self, path: Path, size: int, log: logging.Logger | None = None) -> None:
        self.path = path
        self.size = size
        self.log = log or logging.getLogger(__name__)

    @property
    def held(self) -> bool:
        return self.path.exists()

    def ensure(self) -> bool:
        """Create the reserve if it is missing and the disk has room for it (and a little more);
        returns whether it is held. Never raises."""
        if self.size <= 0 or self.held:
            return self.size > 0 and self.held
        try:
            if shutil.disk_usage(self.path.parent).free < self.size + SPARE:
                return False
            tmp = self.path.with_name(self.path.name + ".part")
            with open(tmp, "wb") as fh:
                chunk = b"\0" * 65536
                for _ in range(0, self.size, len(chunk)):
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                self.path.with_name(self.path.name + ".part").unlink()
            return False
        return True

    def release(self, why: str) -> bool:
        """Delete the reserve (``why`` goes to the log); whether there was one to delete."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            self.log.warning("cannot release the disk reserve %s: %s", self.path, exc)
            return False
        self.log.warning(
            "disk full (%s): released the %.1f MB reserve %s to keep working; it comes back "
            "when the disk has room",
            why,
            self.size / 1024 / 1024,
            self.path,
        )
        return True
