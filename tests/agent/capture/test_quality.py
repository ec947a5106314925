"""Quality gate on real faces: blur, brightness, size, yaw, thresholds and overrides."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facetrove import wire
from facetrove.agent.capture.detector import Detection, MediaPipeDetector
from facetrove.agent.capture.quality import QualityGate, estimate_yaw
from facetrove.agent.config.capture import QualityConfig
from tests.support.data import face_file


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, Detection]:
    image = cv2.imread(str(face_file("single_face.jpg")))
    assert image is not None
    with MediaPipeDetector() as det:
        return image, det.detect(image)[0]


def test_sharp_real_face_passes(face: tuple[np.ndarray, Detection]) -> None:
    image, det = face
    gate = QualityGate()
    verdict = gate.check(image, det)
    assert verdict.passed, verdict
    q = verdict.quality
    assert q.blur > 100 and 60 < q.brightness < 200 and q.face_px == det.min_side
    assert q.yaw is not None and abs(q.yaw) < 20
    assert not gate.rejects


def test_blurred_dark_bright_and_small_are_rejected_by_reason(
    face: tuple[np.ndarray, Detection],
) -> None:
    """The same real face made blurry, dark, bright; then a strict size: each counted."""
    image, det = face
    gate = QualityGate()
    assert gate.check(cv2.GaussianBlur(image, (0, 0), 6), det).reason == "blurry"
    assert gate.check((image * 0.1).astype(np.uint8), det).reason == "dark"
    bright = cv2.add(image, np.full_like(image, 200))
    assert gate.check(bright, det).reason == "bright"
    gate.apply_overrides(wire.QualityOverrides(min_face_px=det.min_side + 1))
    assert gate.check(image, det).reason == "small"
    assert dict(gate.rejects) == {"blurry": 1, "dark": 1, "bright": 1, "small": 1}


def test_blur_figure_does_not_depend_on_face_size(face: tuple[np.ndarray, Detection]) -> None:
    image, det = face
    half = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = det.box
    small = Detection((x0 // 2, y0 // 2, x1 // 2, y1 // 2), det.score)
    gate = QualityGate(QualityConfig(min_face_px=10))
    a, b = gate.measure(image, det).blur, gate.measure(half, small).blur
    assert 0.5 < a / b < 2.0


def test_yaw_from_keypoints() -> None:
    """Nose between the ears -> 0 degrees; nose at one ear -> 90; no keypoints -> None."""
    eyes = ((40.0, 50.0), (60.0, 50.0))
    front = (*eyes, (50.0, 60.0), (50.0, 70.0), (20.0, 55.0), (80.0, 55.0))
    turned = (*eyes, (80.0, 60.0), (50.0, 70.0), (20.0, 55.0), (80.0, 55.0))
    assert estimate_yaw(front) == pytest.approx(0.0)
    assert abs(estimate_yaw(turned) or 0) == pytest.approx(90.0)
    assert estimate_yaw(None) is None


def test_yaw_threshold_and_overrides_fall_back_to_local(
    face: tuple[np.ndarray, Detection],
) -> None:
    image, det = face
    gate = QualityGate(QualityConfig(max_abs_yaw=0.5))
    assert gate.check(image, det).reason == "yaw"
    gate.apply_overrides(wire.QualityOverrides(max_abs_yaw=90))
    assert gate.check(image, det).passed
    gate.apply_overrides(wire.QualityOverrides())  # unset -> local values again
    assert gate.config.max_abs_yaw == 0.5
    with pytest.raises(ValueError, match="min_brightness"):
        gate.apply_overrides(wire.QualityOverrides(min_brightness=250, max_brightness=10))
    assert gate.config.max_abs_yaw == 0.5
