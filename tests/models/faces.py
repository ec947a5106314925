"""Real faces for the model tests: detect with the shipped BlazeFace, crop, make emotion inputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions
from mediapipe.tasks.python.vision import FaceDetector, FaceDetectorOptions

from facetrove import models

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


@contextmanager
def detector(name: str, min_confidence: float = 0.5) -> Iterator[FaceDetector]:
    """A MediaPipe Tasks FaceDetector on one of the shipped .tflite files, closed afterwards."""
    options = FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=str(models.path(name))),
        min_detection_confidence=min_confidence,
    )
    with FaceDetector.create_from_options(options) as found:
        yield found


def read_rgb(file: Path) -> np.ndarray:
    """An image file as an RGB uint8 array."""
    bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {file}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def detect(found: FaceDetector, rgb: np.ndarray) -> list[tuple[Box, float]]:
    """Face boxes and scores, highest score first."""
    result = found.detect(
        mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
    )
    out = []
    for d in result.detections:
        b = d.bounding_box
        out.append(((b.origin_x, b.origin_y, b.width, b.height), float(d.categories[0].score)))
    return sorted(out, key=lambda item: -item[1])


def square_crop(rgb: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """A square crop around the box centre, `margin` of the box's side added on each side."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = max(round(cx - side / 2), 0), max(round(cy - side / 2), 0)
    x1 = min(round(cx + side / 2), rgb.shape[1])
    y1 = min(round(cy + side / 2), rgb.shape[0])
    return rgb[y0:y1, x0:x1]


def emotion_input(crop_rgb: np.ndarray) -> np.ndarray:
    """(64, 64) float32 model input: grayscale, area-resized, scaled as the metadata says."""
    gray = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    size = models.EMOTION_INPUT_SIZE
    small = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) * models.EMOTION_SCALE + models.EMOTION_OFFSET).astype(
        np.float32
    )


def face_input(file: Path, margin: float = 0.1) -> np.ndarray:
    """The emotion model input for the most confident face in an image file."""
    rgb = read_rgb(file)
    with detector(models.SHORT_RANGE) as found:
        faces = detect(found, rgb)
    assert faces, f"no face found in {file}"
    return emotion_input(square_crop(rgb, faces[0][0], margin))
