"""Face detectors: MediaPipe Tasks (BlazeFace), the ``auto`` range that picks short- or
full-range per scene, and an OpenCV Haar fallback, one interface.

MediaPipe is imported lazily so an agent without it still runs on the Haar detector.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from facetrove.agent.capture import cpu_features, native_libs
from facetrove.agent.closing import Closing
from facetrove.agent.config.capture import DetectorConfig

log = logging.getLogger(__name__)

Point = tuple[float, float]


class DetectorError(RuntimeError):
    """A detector cannot be created (missing model file, missing package)."""


class BackendMissing(DetectorError):
    """The detector's package (mediapipe) is not installed."""


class BackendUnloadable(DetectorError):
    """MediaPipe is installed but cannot load or run here: a missing system library (the
    message names its Debian package), a CPU its build does not support (aarch64 before
    ARMv8.2, e.g. a Raspberry Pi 4), a broken install, or a bundled model it refuses."""


# The failures ``fallback_to_haar`` covers; another DetectorError subclass added here falls back
# too (make_detector catches exactly these). A model file the config names that does not exist
# is a plain DetectorError: a configuration mistake, not a reason to run another detector.
HAAR_FALLBACK_ON: tuple[type[DetectorError], ...] = (BackendMissing, BackendUnloadable)


@dataclass(frozen=True)
class Detection:
    """One face in a frame.

    Attributes:
        box: ``(xmin, ymin, xmax, ymax)`` in frame pixels, clamped to the frame, max exclusive.
        score: detector confidence, 0..1.
        keypoints: BlazeFace's six points in frame pixels (right eye, left eye, nose tip,
            mouth, right ear, left ear; "right" is the subject's), or None (Haar).
    """

    box: tuple[int, int, int, int]
    score: float
    keypoints: tuple[Point, ...] | None = None

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def min_side(self) -> int:
        return min(self.width, self.height)


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in a BGR frame."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...

    def close(self) -> None: ...


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(xmin, ymin, xmax, ymax)`` boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def clamp_box(
    x0: float, y0: float, x1: float, y1: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """Round a box to ints inside a ``width`` x ``height`` frame; None if nothing is left."""
    bx0 = min(max(round(float(x0)), 0), width)
    by0 = min(max(round(float(y0)), 0), height)
    bx1 = min(max(round(float(x1)), 0), width)
    by1 = min(max(round(float(y1)), 0), height)
    if bx1 <= bx0 or by1 <= by0:
        return None
    return bx0, by0, bx1, by1


class MediaPipeDetector(Closing):
    """BlazeFace through the MediaPipe Tasks ``FaceDetector`` (mediapipe >= 0.10.30).

    Call ``close()`` (or use it as a context manager): MediaPipe's own finaliser raises at exit.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.model_path = self._model_path()
        self.name = f"mediapipe-{self.config.model.replace('_', '-')}"
        if importlib.util.find_spec("mediapipe") is None:
            raise BackendMissing("mediapipe is not installed")
        # Checked before loading: on a CPU it was not built for, MediaPipe kills the process.
        lacking = cpu_features.missing_for_mediapipe()
        if lacking:
            raise BackendUnloadable(f"MediaPipe cannot run here: {cpu_features.explain(lacking)}")
        # MediaPipe loads its native library (and libEGL, libGLESv2) with ctypes on first use:
        # a missing system library is an OSError, or an ImportError from an extension module.
        try:
            from mediapipe import Image, ImageFormat
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions

            options = vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_path=str(self.model_path)),
                running_mode=vision.RunningMode.IMAGE,
                min_detection_confidence=self.config.min_confidence,
            )
            self._task: Any = vision.FaceDetector.create_from_options(options)
        except (ImportError, OSError) as exc:
            missing = native_libs.missing_libraries()
            why = native_libs.explain(missing) if missing else f"{type(exc).__name__}: {exc}"
            raise BackendUnloadable(f"MediaPipe cannot load: {why}") from None
        except (RuntimeError, ValueError) as exc:
            raise BackendUnloadable(f"MediaPipe cannot load {self.model_path}: {exc}") from None
        self._image_cls: Any = Image
        self._srgb: Any = ImageFormat.SRGB

    def _model_path(self) -> Path:
        if self.config.model_path is not None:
            if not self.config.model_path.is_file():
                raise DetectorError(f"detector model {self.config.model_path} does not exist")
            return self.config.model_path
        from facetrove import models

        name = models.FULL_RANGE if self.config.model == "full_range" else models.SHORT_RANGE
        try:
            return models.path(name)
        except models.ModelNotFound as exc:
            raise DetectorError(str(exc)) from None

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a BGR frame, above ``min_confidence`` and ``min_face_px``."""
        if self._task is None:
            raise DetectorError("detector is closed")
        h, w = image.shape[:2]
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # 20x cheaper than a reversed-slice copy
        result = self._task.detect(self._image_cls(image_format=self._srgb, data=rgb))
        found = []
        for det in result.detections:
            score = float(det.categories[0].score) if det.categories else 0.0
            bb = det.bounding_box
            box = clamp_box(
                bb.origin_x, bb.origin_y, bb.origin_x + bb.width, bb.origin_y + bb.height, w, h
            )
            if box is None or score < self.config.min_confidence:
                continue
            keypoints = tuple((float(k.x) * w, float(k.y) * h) for k in det.keypoints) or None
            found.append(Detection(box=box, score=min(max(score, 0.0), 1.0), keypoints=keypoints))
        return [d for d in found if d.min_side >= self.config.min_face_px]

    def close(self) -> None:
        """Release the MediaPipe task (safe to call twice)."""
        task, self._task = getattr(self, "_task", None), None
        if task is not None:
            task.close()


class HaarDetector(Closing):
    """OpenCV's frontal-face Haar cascade: no MediaPipe needed, no keypoints, no real score.

    The score is a fixed 0.6 scaled by how many neighbouring windows agreed (capped at 1),
    so ``min_confidence`` still filters the weakest hits.
    """

    name = "haar-frontalface"

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        folder = cv2.data.haarcascades  # type: ignore[attr-defined]
        file = Path(folder) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(file))
        if self._cascade.empty():
            raise DetectorError(f"cannot load the Haar cascade {file}")

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a BGR frame, above ``min_confidence`` and ``min_face_px``."""
        h, w = image.shape[:2]
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        size = max(self.config.min_face_px, 20)
        boxes, _levels, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(size, size), outputRejectLevels=True
        )
        found = []
        for (x, y, bw, bh), weight in zip(boxes, np.ravel(weights), strict=False):
            score = float(min(1.0, 0.5 + 0.1 * max(float(weight), 0.0)))
            box = clamp_box(x, y, x + bw, y + bh, w, h)
            if box is not None and score >= self.config.min_confidence:
                found.append(Detection(box=box, score=score))
        return [d for d in found if d.min_side >= self.config.min_face_px]


#: A face whose shorter side is at least this fraction of the frame's shorter side is "large":
#: the short-range model finds it.
LARGE_FACE = 0.12


class AutoDetector(Closing):
    """Short-range BlazeFace, switching to full-range when the scene needs it (``model: auto``).

    Short-range is about 3.7 times faster than full-range but finds no face smaller than about a
    tenth of the frame (a 1080p street scene: none at all). So this runs short-range and, every
    ``auto_check_frames`` frames (every ``auto_empty_check_frames`` while it sees no face), also
    full-range: when full-range finds faces that short-range missed, it switches to full-range.
    It switches back when every face it finds is large (short-range sees those) or when it has
    found nothing for ``auto_check_frames`` frames. ``name`` is the model in use, so each
    sample says which one found its face.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        base = self.config.model_dump()
        self.short = MediaPipeDetector(
            DetectorConfig.model_validate({**base, "model": "short_range"})
        )
        try:
            self.full = MediaPipeDetector(
                DetectorConfig.model_validate({**base, "model": "full_range"})
            )
        except BaseException:
            self.short.close()
            raise
        self.mode = "short_range"
        self.name = self.short.name
        self.frames = 0
        self.switches = 0
        self._last_check = 0
        self._last_found = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a BGR frame, from the model the scene needs."""
        self.frames += 1
        self.name = self.short.name if self.mode == "short_range" else self.full.name
        if self.mode == "full_range":
            return self._full(image)
        found = self.short.detect(image)
        every = self.config.auto_check_frames if found else self.config.auto_empty_check_frames
        if self.frames - self._last_check < every:
            return found
        self._last_check = self.frames
        wide = self.full.detect(image)
        missed = [d for d in wide if all(iou(d.box, s.box) < 0.3 for s in found)]
        if not missed:
            return found
        self._switch("full_range", f"full range found {len(missed)} face(s) short range missed")
        self._last_found = self.frames
        return wide

    def detect_still(self, image: np.ndarray) -> list[Detection]:
        """Faces in an independent photo: both models (a photo has no next frame to switch
        on), full-range's answer when it finds faces short-range missed."""
        found = self.short.detect(image)
        wide = self.full.detect(image)
        missed = [d for d in wide if all(iou(d.box, s.box) < 0.3 for s in found)]
        self.name = self.full.name if missed else self.short.name  # until the next detect
        return wide if missed else found

    def _full(self, image: np.ndarray) -> list[Detection]:
        found = self.full.detect(image)
        if found:
            self._last_found = self.frames
            large = LARGE_FACE * min(image.shape[:2])
            if all(d.min_side >= large for d in found):
                self._switch("short_range", "every face is large")
                self._last_check = self.frames
        elif self.frames - self._last_found >= self.config.auto_check_frames:
            self._switch("short_range", f"no face for {self.config.auto_check_frames} frames")
            self._last_check = self.frames
        return found

    def _switch(self, mode: str, why: str) -> None:
        self.mode = mode
        self.name = self.short.name if mode == "short_range" else self.full.name
        self.switches += 1
        log.info("detector: %s (%s)", mode.replace("_", "-"), why)

    def close(self) -> None:
        """Close both models (safe to call twice)."""
        self.short.close()
        self.full.close()


class FixedDetector(Closing):
    """Test double: returns the detections given for each call, in turn (then the last)."""

    name = "fixed"

    def __init__(self, per_frame: Sequence[Sequence[Detection]]) -> None:
        self.per_frame = [list(d) for d in per_frame] or [[]]
        self.calls = 0
        self.closed = False

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The next list of detections."""
        found = self.per_frame[min(self.calls, len(self.per_frame) - 1)]
        self.calls += 1
        return list(found)

    def close(self) -> None:
        """Remember that close was called."""
        self.closed = True


def make_detector(config: DetectorConfig | None = None) -> FaceDetector:
    """The detector the config names; Haar (with a warning) when MediaPipe is missing and
    ``fallback_to_haar`` allows it.

    Raises:
        DetectorError: the detector cannot be created.
    """
    config = config or DetectorConfig()
    if config.backend == "haar":
        return HaarDetector(config)
    try:
        if config.model == "auto" and config.model_path is None:
            return AutoDetector(config)
        return MediaPipeDetector(config)
    except HAAR_FALLBACK_ON as exc:
        if not config.fallback_to_haar:
            raise
        log.warning("%s; falling back to the OpenCV Haar detector", exc)
        return HaarDetector(config)
