"""The quality gate: blur, brightness, face size and yaw, with thresholds from config."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np

from facetrove import wire
from facetrove.agent.capture.detector import Detection
from facetrove.agent.config.capture import QualityConfig
from facetrove.agent.config.remote import overridden

#: Faces are measured at this size so blur figures do not depend on how big the face is.
MEASURE_PX = 96

#: Reasons a face can fail the gate, in the order they are checked (cheapest first).
REASONS = ("small", "yaw", "dark", "bright", "blurry")


def estimate_yaw(keypoints: tuple[tuple[float, float], ...] | None) -> float | None:
    """Yaw in degrees from BlazeFace keypoints (0 = frontal, +-90 = profile), or None.

    The nose tip moves towards one ear as the head turns; ``(dl - dr) / (dl + dr)`` of the
    horizontal nose-to-ear distances is the sine of the yaw for a round head.
    """
    if not keypoints or len(keypoints) < 6:
        return None
    nose_x = keypoints[2][0]
    ear_a, ear_b = keypoints[4][0], keypoints[5][0]
    left, right = sorted((ear_a, ear_b))
    dl, dr = nose_x - left, right - nose_x
    if dl + dr <= 1e-6:
        return None
    ratio = max(-1.0, min(1.0, (dl - dr) / (dl + dr)))
    return math.degrees(math.asin(ratio))


@dataclass(frozen=True)
class Verdict:
    """The gate's answer for one face: its figures, and the failing reason or None."""

    quality: wire.Quality
    reason: str | None

    @property
    def passed(self) -> bool:
        return self.reason is None


class QualityGate:
    """Measures a face and decides whether it is good enough to become a sample.

    ``rejects`` counts failed faces by reason (see ``REASONS``).
    """

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.base = config or QualityConfig()
        self.config = self.base
        self.rejects: Counter[str] = Counter()

    def apply_overrides(self, overrides: wire.QualityOverrides) -> None:
        """Apply the collector's thresholds; unset fields keep the local config's values.

        Raises:
            ValueError: the merged thresholds are inconsistent (nothing is changed then).
        """
        self.config = overridden(self.base, overrides)

    def measure(self, image: np.ndarray, det: Detection) -> wire.Quality:
        """Blur, brightness, face size and yaw of one face."""
        x0, y0, x1, y1 = det.box
        region = image[y0:y1, x0:x1]
        gray = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
        small = cv2.resize(gray, (MEASURE_PX, MEASURE_PX), interpolation=cv2.INTER_AREA)
        brightness = float(cv2.mean(small)[0])
        _, lap_std = cv2.meanStdDev(cv2.Laplacian(small, cv2.CV_64F))
        blur = float(lap_std[0, 0]) ** 2
        yaw = estimate_yaw(det.keypoints)
        return wire.Quality(
            blur=round(blur, 2),
            brightness=round(min(brightness, 255.0), 2),
            face_px=int(det.min_side),
            yaw=None if yaw is None else round(yaw, 1),
        )

    def check(self, image: np.ndarray, det: Detection) -> Verdict:
        """Measure a face and apply the thresholds; a failure is counted in ``rejects``."""
        cfg = self.config
        reason: str | None = None
        if det.min_side < cfg.min_face_px:
            # No pixel work for faces that are too small anyway.
            quality = wire.Quality(blur=0.0, brightness=0.0, face_px=int(det.min_side))
            self.rejects["small"] += 1
            return Verdict(quality, "small")
        quality = self.measure(image, det)
        if quality.yaw is not None and abs(quality.yaw) > cfg.max_abs_yaw:
            reason = "yaw"
        elif quality.brightness < cfg.min_brightness:
            reason = "dark"
        elif quality.brightness > cfg.max_brightness:
            reason = "bright"
        elif quality.blur < cfg.min_blur:
            reason = "blurry"
        if reason is not None:
            self.rejects[reason] += 1
        return Verdict(quality, reason)
