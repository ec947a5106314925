"""models/__init__.py: what the agent imports to find its models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from facetrove import models


@pytest.mark.parametrize("name", [models.SHORT_RANGE, models.FULL_RANGE, models.EMOTION_ONNX])
def test_every_shipped_file_is_there_with_its_sha256(name: str) -> None:
    file = models.path(name)
    assert file.parent == models.DIR
    assert models.sha256_of(file) == models.SHA256[name]
    assert models.verify(name)


def test_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(models.ModelNotFound, match=r"unknown model 'yolo\.onnx'.*shipped: "):
        models.path("yolo.onnx")


def test_missing_file_names_its_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An install that lost a model file: the error says which file and how to rebuild."""
    monkeypatch.setattr(models, "DIR", tmp_path)
    with pytest.raises(models.ModelNotFound, match=r"emotion_mini_xception\.onnx is missing"):
        models.path(models.EMOTION_ONNX)


def test_importing_models_pulls_in_nothing_heavy() -> None:
    """The agent imports `models` at start-up: it must stay standard library only."""
    code = (
        "import sys, models; heavy = {'numpy', 'onnx', 'onnxruntime', 'h5py', 'mediapipe', 'cv2'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_class_tuple_is_the_fer_order() -> None:
    assert models.EMOTION_CLASSES == (
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    )
