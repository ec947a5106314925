"""Emotion pre-labels from an ONNX model, on one thread.

Preprocessing and class order come from the model's own metadata (written by
models/convert_keras.py), so a retrained model with other classes drops in without code changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from facetrove import wire
from facetrove.agent.closing import Closing
from facetrove.agent.config.capture import PrelabelConfig


class PrelabelError(RuntimeError):
    """The model file is missing, unreadable or lacks the metadata it needs."""


@dataclass(frozen=True)
class PrelabelResult:
    """A model's guess for one face."""

    label: str
    probs: dict[str, float]
    model_id: str
    model_sha256: str

    @property
    def margin(self) -> float:
        """Top-1 minus top-2 probability: small means close to a decision boundary."""
        return top2_margin(self.probs)

    def to_wire(self) -> wire.Prelabel:
        """As the sample header's ``prelabel``."""
        return wire.Prelabel(
            model_id=self.model_id,
            model_sha256=self.model_sha256,
            label=self.label,
            probs=dict(self.probs),
        )


def top2_margin(probs: Mapping[str, float]) -> float:
    """Difference between the two highest probabilities (1.0 with a single class)."""
    top = sorted(probs.values(), reverse=True)
    return float(top[0] - top[1]) if len(top) > 1 else 1.0


@runtime_checkable
class EmotionClassifier(Protocol):
    """Pre-labels a face crop."""

    model_id: str
    model_sha256: str
    classes: tuple[str, ...]

    def classify(self, face: np.ndarray) -> PrelabelResult: ...

    def close(self) -> None: ...


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnnxEmotionClassifier(Closing):
    """An ONNX emotion model run by onnxruntime, sequential, on ``threads`` threads (1)."""

    def __init__(self, path: Path, model_id: str | None = None, threads: int = 1) -> None:
        import onnxruntime as ort
        from onnxruntime.capi.onnxruntime_pybind11_state import (
            Fail,
            InvalidArgument,
            InvalidGraph,
            InvalidProtobuf,
            NoSuchFile,
            RuntimeException,
        )

        self.path = Path(path)
        if not self.path.is_file():
            raise PrelabelError(f"emotion model {self.path} does not exist")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session: Any = ort.InferenceSession(
                str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except (Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, NoSuchFile) as exc:
            raise PrelabelError(f"cannot load emotion model {self.path}: {exc}") from None
        meta = dict(self._session.get_modelmeta().custom_metadata_map)
        try:
            self.classes = tuple(c.strip() for c in meta["classes"].split(","))
            self.size = int(meta["input_size"])
            self.scale = float(meta["preprocess_scale"])
            self.offset = float(meta["preprocess_offset"])
        except (KeyError, ValueError) as exc:
            raise PrelabelError(
                f"{self.path} lacks metadata classes/input_size/preprocess_scale/"
                f"preprocess_offset ({exc})"
            ) from None
        self.gray = meta.get("color", "grayscale") == "grayscale"
        self._input = self._session.get_inputs()[0].name
        self._try_one_face((Fail, InvalidArgument, RuntimeException))
        # a trained model names itself (metadata model_id, see collector/train); else the file name
        self.model_id = model_id or meta.get("model_id") or self.path.stem
        self.model_sha256 = _file_sha256(self.path)

    def _try_one_face(self, errors: tuple[type[Exception], ...]) -> None:
        """Run a blank face through the model as the agent will: a file whose metadata names
        another input size, colour or class count than its graph has is refused here, at load
        time (a rolled-out model is then not swapped in), not at the first face it meets."""
        blank = np.zeros((self.size, self.size, 3), np.uint8)
        try:
            out = self._session.run(None, {self._input: self.preprocess(blank)})[0]
        except errors as exc:
            raise PrelabelError(
                f"emotion model {self.path} does not run on a {self.size}x{self.size}"
                f" {'gray' if self.gray else 'colour'} face as its metadata says: {exc}"
            ) from None
        if tuple(np.shape(out)) == (1, len(self.classes)) and not np.isfinite(out).all():
            raise PrelabelError(
                f"emotion model {self.path} answers NaN or infinity for a blank face: its"
                " weights are broken (a training run that diverged?)"
            )
        if tuple(np.shape(out)) != (1, len(self.classes)):
            raise PrelabelError(
                f"emotion model {self.path} answers with shape {tuple(np.shape(out))}, not one"
                f" probability for each of the {len(self.classes)} classes of its metadata"
            )

    @classmethod
    def from_config(cls, config: PrelabelConfig) -> OnnxEmotionClassifier:
        """The configured model, or the shipped one."""
        path = config.model_path
        if path is None:
            from facetrove import models

            try:
                path = models.path(models.EMOTION_ONNX)
            except models.ModelNotFound as exc:
                raise PrelabelError(str(exc)) from None
        return cls(path, model_id=config.model_id, threads=config.threads)

    def preprocess(self, face: np.ndarray) -> np.ndarray:
        """BGR face -> the model's input tensor, batch of one."""
        if self.gray and face.ndim == 3:
            face = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
        face = cv2.resize(face, (self.size, self.size), interpolation=cv2.INTER_AREA)
        x = face.astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)
        return x[None, None] if x.ndim == 2 else x.transpose(2, 0, 1)[None]

    def classify(self, face: np.ndarray) -> PrelabelResult:
        """Label and class probabilities of one face crop."""
        out = self._session.run(None, {self._input: self.preprocess(face)})[0][0]
        # NaN (a diverged model on some faces) counts as 0, +inf as 1: always a valid wire value
        probs = np.clip(np.nan_to_num(out.astype(np.float64), nan=0.0), 0.0, 1.0)
        best = int(np.argmax(probs))
        return PrelabelResult(
            label=self.classes[best],
            probs={c: round(float(p), 5) for c, p in zip(self.classes, probs, strict=True)},
            model_id=self.model_id,
            model_sha256=self.model_sha256,
        )

    def close(self) -> None:
        """Drop the session."""
        self._session = None


class FixedClassifier(Closing):
    """Test double: always the same probabilities (or each in turn from a list)."""

    def __init__(
        self,
        probs: Mapping[str, float] | Sequence[Mapping[str, float]],
        model_id: str = "fixed",
    ) -> None:
        self.queue = [dict(probs)] if isinstance(probs, Mapping) else [dict(p) for p in probs]
        self.classes = tuple(self.queue[0])
        self.model_id = model_id
        self.model_sha256 = hashlib.sha256(model_id.encode()).hexdigest()
        self.calls = 0

    def classify(self, face: np.ndarray) -> PrelabelResult:
        """The next fixed probabilities."""
        probs = self.queue[min(self.calls, len(self.queue) - 1)]
        self.calls += 1
        return PrelabelResult(
            label=max(probs, key=lambda c: probs[c]),
            probs=dict(probs),
            model_id=self.model_id,
            model_sha256=self.model_sha256,
        )
