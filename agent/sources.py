"""Frame sources: camera, video file, RTSP/HTTP stream, image folder.

Every source is an iterable of :class:`Frame` with a ``close()``. ``open_source`` picks the
implementation from a spec string the way a user types it on the command line.
"""

from __future__ import annotations

import logging
import os
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
from facetrove.agent.config.capture import SourceConfig

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
_MAX_LABEL = 64  # wire.messages.Label


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
    """

    image: np.ndarray
    captured_at: datetime
    index: int
    source: str
    provided_label: str | None = None
    still: bool = False


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


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


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


class FolderSource(Closing):
    """Images under a folder, recursively, in sorted order (or a single image file).

    Unreadable images are skipped with a warning and counted in ``skipped``. An image inside a
    first-level sub-folder carries that folder's name as ``provided_label`` (class folders).
    """

    def __init__(self, path: Path, config: SourceConfig | None = None) -> None:
        self.root = Path(path)
        self.config = config or SourceConfig()
        kind = "folder" if self.root.is_dir() else "image"
        self.label = f"{kind}:{self.root.name}"
        self.skipped = 0
        if not self.root.exists():
            raise SourceError(f"{self.label}: {self.root} does not exist")

    def files(self) -> list[Path]:
        """The image files this source will read, in order."""
        if self.root.is_file():
            return [self.root]
        found = [
            p
            for p in self.root.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
        ]
        return sorted(found, key=lambda p: p.relative_to(self.root).as_posix())

    def label_of(self, path: Path) -> str | None:
        """The class-folder label of an image, or None for images at the top level."""
        if not self.config.label_from_folder or self.root.is_file():
            return None
        parts = path.relative_to(self.root).parts
        if len(parts) < 2:
            return None
        name = parts[0].strip()
        if not name or len(name) > _MAX_LABEL:
            log.warning("%s: folder name %r is not a usable label; ignored", self.label, name)
            return None
        return name

    def __iter__(self) -> Iterator[Frame]:
        files = self.files()
        if not files:
            log.warning("%s: no images (%s) found", self.label, ", ".join(sorted(IMAGE_SUFFIXES)))
        pacer = Pacer(self.config.max_fps)
        index = 0
        for path in files:
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None or image.size == 0 or image.dtype != np.uint8:
                self.skipped += 1
                log.warning("%s: skipped unreadable image %s", self.label, path)
                continue
            pacer.wait()
            mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
            yield Frame(
                image=resize(_as_bgr(image), self.config.width, self.config.height),
                captured_at=mtime,
                index=index,
                source=self.label,
                provided_label=self.label_of(path),
                still=True,
            )
            index += 1


def stream_label(url: str) -> str:
    """``rtsp:<host>[:port]/path`` without credentials (labels end up in stored samples)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}:{host}{parts.path}"[:512]


def open_source(spec: str | int, config: SourceConfig | None = None) -> Source:
    """Open a source from a spec as typed on the command line.

    ``0`` (any integer) is a camera index; an existing folder is an image folder; an existing
    file is a single image or a video by its suffix; ``rtsp://``, ``http(s)://`` are streams.

    Raises:
        SourceError: the spec matches nothing, or the source cannot be opened.
    """
    from facetrove.agent.capture_sources import CameraSource, StreamSource, VideoFileSource

    config = config or SourceConfig()
    text = str(spec).strip()
    if isinstance(spec, int) or text.isdigit():
        return CameraSource(int(text), config)
    if text.lower().startswith(STREAM_SCHEMES):
        return StreamSource(text, config)
    path = Path(os.path.expanduser(text))
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return FolderSource(path, config)
    if path.is_file():
        return VideoFileSource(path, config)
    raise SourceError(
        f"source {text!r} not found: not a camera index, an rtsp:// or http(s):// URL, "
        "or an existing file or folder"
    )
