"""The ``auto`` detector range: short-range speed on a webcam, full-range recall on a room or
street camera, without configuration.

BlazeFace short-range is about 3.7 times faster than full-range but finds no face smaller than
about a tenth of the frame (a 1080p street scene: none at all). So ``AutoDetector`` runs
short-range and, every ``auto_check_frames`` frames (every ``auto_empty_check_frames`` while it
sees no face), also full-range: when full-range finds faces that short-range missed, it switches
to full-range. It switches back when every face it finds is large (short-range sees those) or
when it has found nothing for ``auto_check_frames`` frames.
"""

from __future__ import annotations

import logging

import numpy as np

from facetrove.agent.capture.detector import Detection, MediaPipeDetector
from facetrove.agent.capture.tracker import iou
from facetrove.agent.closing import Closing
from facetrove.agent.config.capture import DetectorConfig

log = logging.getLogger(__name__)

#: A face whose shorter side is at least this fraction of the frame's shorter side is "large":
#: the short-range model finds it.
LARGE_FACE = 0.12


class AutoDetector(Closing):
    """Short-range BlazeFace, switching to full-range when the scene needs it.

    ``name`` is the model in use, so each sample says which one found its face.
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
