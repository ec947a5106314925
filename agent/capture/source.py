"""The source interface: :class:`Frame`, :class:`Source`, and what every source shares.

Every source is an iterable of :class:`Frame` with a ``close()``. The sources themselves are in
``folder_source.py`` (images) and ``video_sources.py`` (camera, video file, stream);
``open_source.py`` picks one from a spec string the way a user types it on the command line.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import cv2
import numpy as np

from facetrove.agent.closing import Closing

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
#: Video files a folder source names and counts but does not read (give one as its own source).
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
     ".ts", ".mts", ".m2ts", ".h264", ".h265"}
)  # fmt: skip
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


class SourceError(RuntimeError):
    """A source cannot be opened or read; the message names the source."""


@dataclass(frozen=True)
class Frame:
    """One picture from a source.

    Attributes:
        image: BGR pixels, ``uint8`` of shape (height, width, 3).
        captured_at: capture time, aware UTC. Video files: open time + media position, so
            time windows follow the video's own clock however fast it is decoded.
        index: 0-based position of the frame in this source.
        source: short label of the source, e.g. ``camera:0`` or ``file:clip.mp4``.
        provided_label: a label the source gives (an image folder's class folder name).
        still: an independent photo (image files): faces are not tracked across stills.
        origin: sha256 (hex) of the file the frame came from (image and video files, not
            cameras or streams): with ``index`` and the face box it makes the sample's id, so
            a file sent twice is stored once.
    """

    image: np.ndarray
    captured_at: datetime
    index: int
    source: str
    provided_label: str | None = None
    still: bool = False
    origin: str | None = None


@runtime_checkable
class Source(Protocol):
    """Anything that yields frames and can be closed."""

    label: str

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class Pacer:
    """Caps the frame rate: ``wait()`` sleeps until the next frame is due."""

    def __init__(
        self,
        max_fps: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._due: float | None = None

    def wait(self) -> None:
        """Block until the next frame may be taken (no-op without a cap)."""
        if not self.interval:
            return
        now = self._clock()
        if self._due is not None and now < self._due:
            self._sleep(self._due - now)
            now = self._due
        # A slow consumer must not earn a burst of catch-up frames afterwards.
        self._due = max(now, self._due or now) + self.interval


def resize(image: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
    """Resize to ``width`` x ``height``; with one of them unset, keep the aspect ratio."""
    if width is None and height is None:
        return image
    h, w = image.shape[:2]
    if width is None:
        assert height is not None
        width = max(1, round(w * height / h))
    elif height is None:
        height = max(1, round(h * width / w))
    if (w, h) == (width, height):
        return image
    interp = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def stream_label(url: str) -> str:
    """``rtsp:<host>[:port]/path`` without credentials (labels end up in stored samples)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}:{host}{parts.path}"[:512]


@dataclass
class ArraySource(Closing):
    """Test double and library entry point: frames from arrays already in memory.

    Timestamps start at ``start`` and advance by ``1/fps`` per frame, so time windows behave
    as if a camera at ``fps`` had produced them.
    """

    images: Iterable[np.ndarray]
    label: str = "array"
    fps: float = 30.0
    start: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    provided_label: str | None = None
    still: bool = False

    def __iter__(self) -> Iterator[Frame]:
        for i, image in enumerate(self.images):
            yield Frame(
                image=image,
                captured_at=self.start + timedelta(seconds=i / self.fps),
                index=i,
                source=self.label,
                provided_label=self.provided_label,
                still=self.still,
            )


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
