"""The collector's disk reserve (``facetrove/disk_reserve.py``): 8 MiB in ``data_dir/.reserve``,
made when a command opens the store (or serve and ingest start) with room to spare, and
released when the store cannot be opened for lack of space, so that ``collector prune`` can
open it and free space on a disk filled to the last byte. Ingest never releases it: it would
fill the room with new samples before anything could be deleted."""

from __future__ import annotations

import logging
from pathlib import Path

from facetrove.disk_reserve import DiskReserve

SIZE = 8 * 1024 * 1024
NAME = ".reserve"


def data_reserve(data_dir: Path | str) -> DiskReserve:
    """The reserve file of the store in ``data_dir``."""
    return DiskReserve(Path(data_dir) / NAME, SIZE, logging.getLogger("facetrove.store"))
