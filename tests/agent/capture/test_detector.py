"""Face detectors on real photos: MediaPipe short/full range and the Haar fallback."""

from __future__ import annotations

import builtins
import importlib.util
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pytest

from facetrove.agent.capture.detector import (
    BackendMissing,
    BackendUnloadable,
    Detection,
    DetectorError,
    FixedDetector,
    HaarDetector,
    MediaPipeDetector,
    clamp_box,
    make_detector,
)
from facetrove.agent.config.capture import DetectorConfig
from tests.support.data import face_file


def _read(name: str) -> np.ndarray:
    image = cv2.imread(str(face_file(name)))
    assert image is not None
    return image


def _inside(det: Detection, image: np.ndarray) -> bool:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = det.box
    return bool(0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h)


@pytest.mark.parametrize("model", ["short_range", "full_range"])
def test_mediapipe_finds_the_face(model: Literal["short_range", "full_range"]) -> None:
    """One face in single_face.jpg: a box around its centre, six keypoints inside the box."""
    image = _read("single_face.jpg")
    with MediaPipeDetector(DetectorConfig(model=model)) as det:
        found = det.detect(image)
    assert len(found) == 1
    face = found[0]
    assert _inside(face, image) and face.score > 0.7 and face.min_side > 120
    assert face.keypoints is not None and len(face.keypoints) == 6
    x0, y0, x1, y1 = face.box
    nose = face.keypoints[2]
    assert x0 < nose[0] < x1 and y0 < nose[1] < y1


def test_full_range_finds_more_small_faces_in_a_group() -> None:
    """multi_face.jpg has five people; the full-range model is the one for room cameras."""
    image = _read("multi_face.jpg")
    cfg = DetectorConfig(min_face_px=8)
    with MediaPipeDetector(cfg.model_copy(update={"model": "full_range"})) as full:
        n_full = len(full.detect(image))
    with MediaPipeDetector(cfg) as short:
        n_short = len(short.detect(image))
    assert n_full == 5
    assert n_short <= n_full


def test_min_face_px_and_confidence_filter() -> None:
    image = _read("single_face.jpg")
    with MediaPipeDetector(DetectorConfig(min_face_px=400)) as det:
        assert det.detect(image) == []
    with MediaPipeDetector(DetectorConfig(min_confidence=0.99)) as det:
        assert det.detect(image) == []


def test_no_face_video_frame_has_no_detection() -> None:
    cap = cv2.VideoCapture(str(face_file("no_face.mp4")))
    ok, frame = cap.read()
    cap.release()
    assert ok
    det = make_detector()
    try:
        assert det.detect(frame) == []
    finally:
        det.close()


def test_haar_finds_the_face_in_single_face() -> None:
    image = _read("single_face.jpg")
    found = HaarDetector().detect(image)
    assert len(found) == 1
    face = found[0]
    assert _inside(face, image) and face.keypoints is None
    # The Haar box overlaps MediaPipe's box for the same face.
    with MediaPipeDetector() as mp:
        ref = mp.detect(image)[0].box
    ix = max(0, min(face.box[2], ref[2]) - max(face.box[0], ref[0]))
    iy = max(0, min(face.box[3], ref[3]) - max(face.box[1], ref[1]))
    assert ix * iy > 0.3 * (ref[2] - ref[0]) * (ref[3] - ref[1])


def test_fallback_to_haar_without_mediapipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """With mediapipe not installed, the agent still detects faces (Haar) and says why."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mediapipe" else real_find_spec(name, *a),
    )
    det = make_detector(DetectorConfig())
    assert isinstance(det, HaarDetector)
    with pytest.raises(BackendMissing, match="mediapipe is not installed"):
        make_detector(DetectorConfig(fallback_to_haar=False))


def test_fallback_to_haar_when_mediapipe_cannot_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed but its import fails (a broken install): Haar, and the cause in the error.
    A hidden libEGL in a real agent: tests/agent/capture/test_missing_libraries.py."""
    real_import = builtins.__import__

    def broken_mediapipe(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("mediapipe"):
            raise ImportError("mediapipe/tasks/c/libmediapipe.so: undefined symbol")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken_mediapipe)
    assert isinstance(make_detector(DetectorConfig()), HaarDetector)
    with pytest.raises(BackendUnloadable, match=r"MediaPipe cannot load: ImportError: .*undefined"):
        make_detector(DetectorConfig(fallback_to_haar=False))


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="does not exist"):
        MediaPipeDetector(DetectorConfig(model_path=tmp_path / "nope.tflite"))


def test_clamp_box() -> None:
    assert clamp_box(-5.4, -1, 50.6, 120, 40, 100) == (0, 0, 40, 100)
    assert clamp_box(50, 50, 60, 60, 40, 40) is None


def test_fixed_detector_double() -> None:
    a = Detection((0, 0, 10, 10), 0.9)
    det = FixedDetector([[a], []])
    img = np.zeros((20, 20, 3), np.uint8)
    assert det.detect(img) == [a]
    assert det.detect(img) == []
    assert det.detect(img) == []
    det.close()
    assert det.closed
