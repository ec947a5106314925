"""Images from a folder (recursively, class folders give labels) or a single image file."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from facetrove.agent.capture.source import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    Frame,
    Pacer,
    SourceError,
    resize,
)
from facetrove.agent.closing import Closing
from facetrove.agent.config.capture import SourceConfig

log = logging.getLogger(__name__)

_MAX_LABEL = 64  # wire.messages.Label


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class FolderSource(Closing):
    """Images under a folder, recursively, in sorted order (or a single image file).

    Unreadable images are skipped with a warning and counted in ``skipped``. Video files are not
    read: each is named in one warning (run it as its own source) and counted in
    ``skipped_videos``. An image inside a first-level sub-folder carries that folder's name as
    ``provided_label`` (class folders).
    """

    def __init__(self, path: Path, config: SourceConfig | None = None) -> None:
        self.root = Path(path)
        self.config = config or SourceConfig()
        kind = "folder" if self.root.is_dir() else "image"
        self.label = f"{kind}:{self.root.name}"
        self.skipped = 0
        self.skipped_videos = 0
        if not self.root.exists():
            raise SourceError(f"{self.label}: {self.root} does not exist")

    def files(self, suffixes: frozenset[str] = IMAGE_SUFFIXES) -> list[Path]:
        """The image files this source will read (or others by suffix), in order."""
        if self.root.is_file():
            return [self.root] if suffixes is IMAGE_SUFFIXES else []
        found = [
            p
            for p in self.root.rglob("*")
            if p.suffix.lower() in suffixes and p.is_file() and not p.name.startswith(".")
        ]
        return sorted(found, key=lambda p: p.relative_to(self.root).as_posix())

    def _skip_videos(self) -> None:
        """Name every video file once: a folder source reads images only."""
        for path in self.files(VIDEO_SUFFIXES):
            self.skipped_videos += 1
            log.warning(
                "%s: skipped video file %s: a folder source reads images only; run the agent "
                "with --source %s for its frames",
                self.label,
                path.relative_to(self.root).as_posix(),
                path,
            )

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
        self._skip_videos()
        files = self.files()
        if not files:
            log.warning("%s: no images (%s) found", self.label, ", ".join(sorted(IMAGE_SUFFIXES)))
        pacer = Pacer(self.config.max_fps)
        index = 0
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                data = b""
            image = (
                cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
            )
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
                origin=hashlib.sha256(data).hexdigest(),
            )
            index += 1
