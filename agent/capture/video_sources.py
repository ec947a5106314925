"""Sources read through ``cv2.VideoCapture``: camera index, video file, RTSP/HTTP stream.

Live sources (camera, stream) reopen after a dropped connection with exponential back-off;
a video file ends cleanly when it is read to the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from facetrove.agent.capture.source import (
    Frame,
    Pacer,
    SourceError,
    file_sha256,
    resize,
    stream_label,
)
from facetrove.agent.closing import Closing
from facetrove.agent.config.capture import SourceConfig

log = logging.getLogger(__name__)


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` the sources use (test doubles implement this)."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


Opener = Callable[[], Capture]


class VideoFileSource(Closing):
    """Frames of a video file, decoded as fast as they are consumed (or at ``max_fps``).

    Raises:
        SourceError: at construction, if the file cannot be opened or has no readable frame.
    """

    def __init__(
        self, path: Path, config: SourceConfig | None = None, opener: Opener | None = None
    ) -> None:
        self.path = Path(path)
        self.config = config or SourceConfig()
        self.label = f"file:{self.path.name}"[:512]
        self.frames_read = 0
        opener = opener or (lambda: cv2.VideoCapture(str(self.path)))
        self._cap: Capture | None = opener()
        if not self._cap.isOpened():
            self._cap = None
            raise SourceError(
                f"{self.label}: cannot open {self.path} as a video "
                "(corrupt or truncated file, or an unsupported format)"
            )
        ok, first = self._cap.read()
        if not ok or first is None:
            self.close()
            raise SourceError(f"{self.label}: {self.path} has no readable frames (corrupt file?)")
        self._first: np.ndarray | None = first
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 1000.0 else 30.0
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._opened_at = datetime.now(timezone.utc)
        try:
            self.origin: str | None = file_sha256(self.path)
        except OSError:
            self.origin = None  # a device path or pipe: samples get fresh ids

    def __iter__(self) -> Iterator[Frame]:
        pacer = Pacer(self.config.max_fps)
        image = self._first
        self._first = None
        while image is not None:
            pacer.wait()
            yield Frame(
                image=resize(image, self.config.width, self.config.height),
                captured_at=self._opened_at + timedelta(seconds=self.frames_read / self.fps),
                index=self.frames_read,
                source=self.label,
                origin=self.origin,
            )
            self.frames_read += 1
            if self._cap is None:
                return
            ok, image = self._cap.read()
            if not ok:
                image = None
        if self.frame_count > 10 and self.frames_read < 0.9 * self.frame_count:
            log.warning(
                "%s: ended after %d of %d frames (truncated or partly corrupt file)",
                self.label,
                self.frames_read,
                self.frame_count,
            )
        self.close()

    def close(self) -> None:
        """Release the file."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class _LiveSource(Closing):
    """A camera or stream: frames stamped with the wall clock, reopened when they stop."""

    kind = "live"

    def __init__(
        self,
        label: str,
        opener: Opener,
        config: SourceConfig,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label = label
        self.config = config
        self.reconnects = 0
        self._opener = opener
        self._sleep = sleep
        self._cap: Capture | None = None
        self._closed = False

    def _open_once(self) -> Capture | None:
        cap = self._opener()
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _reopen(self) -> Capture:
        """Reopen with exponential back-off; give up after ``reconnect_attempts`` failures."""
        delay = self.config.reconnect_initial_s
        failures = 0
        while not self._closed:
            log.warning("%s: reconnecting in %.1f s", self.label, delay)
            self._sleep(delay)
            cap = self._open_once()
            if cap is not None:
                self.reconnects += 1
                log.info("%s: reconnected", self.label)
                return cap
            failures += 1
            limit = self.config.reconnect_attempts
            if limit and failures >= limit:
                raise SourceError(f"{self.label}: gave up after {failures} failed reconnects")
            delay = min(delay * 2, self.config.reconnect_max_s)
        raise SourceError(f"{self.label}: closed")

    def __iter__(self) -> Iterator[Frame]:
        pacer = Pacer(self.config.max_fps)
        index = 0
        while not self._closed:
            if self._cap is None:
                self._cap = self._reopen()
            pacer.wait()
            ok, image = self._cap.read()
            if not ok or image is None:
                log.warning("%s: no frame (connection dropped?)", self.label)
                self._cap.release()
                self._cap = None
                continue
            yield Frame(
                image=resize(image, self.config.width, self.config.height),
                captured_at=datetime.now(timezone.utc),
                index=index,
                source=self.label,
            )
            index += 1

    def close(self) -> None:
        """Stop reading and release the device or connection."""
        self._closed = True
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class CameraSource(_LiveSource):
    """A local camera by index. Fails at once if it cannot be opened; reopens after a drop.

    Raises:
        SourceError: at construction, if the camera cannot be opened.
    """

    def __init__(
        self,
        index: int,
        config: SourceConfig | None = None,
        opener: Opener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            f"camera:{index}",
            opener or (lambda: cv2.VideoCapture(index)),
            config or SourceConfig(),
            sleep,
        )
        self._cap = self._open_once()
        if self._cap is None:
            raise SourceError(
                f"camera:{index}: cannot open camera {index} "
                "(no such device, no permission, or in use by another program)"
            )


class StreamSource(_LiveSource):
    """An RTSP or HTTP(S) stream. The first open is retried like a reconnect (the camera may
    still be booting); ``reconnect_attempts`` bounds the retries."""

    def __init__(
        self,
        url: str,
        config: SourceConfig | None = None,
        opener: Opener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            stream_label(url),
            opener or (lambda: cv2.VideoCapture(url, cv2.CAP_FFMPEG)),
            config or SourceConfig(),
            sleep,
        )
        self._cap = self._open_once()
        if self._cap is None:
            log.warning("%s: cannot open the stream yet; will retry", self.label)
