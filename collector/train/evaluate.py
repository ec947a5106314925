"""Side-by-side evaluation of ONNX models through onnxruntime, as the agent would run them.

Each model is fed with its own preprocessing (from its metadata) and scored by class name, so a
seven-class parent and a five-class child are compared on the same faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetrove.collector.train import metrics
from facetrove.collector.train.data import Preprocess, VersionSet


@dataclass
class OnnxModel:
    """An ONNX emotion model loaded in onnxruntime, with its class list and preprocessing."""

    name: str
    session: Any
    classes: list[str]
    prep: Preprocess

    @classmethod
    def load(cls, name: str, model: bytes | Path) -> OnnxModel:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        source = model if isinstance(model, bytes) else str(model)
        session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        meta = dict(session.get_modelmeta().custom_metadata_map)
        classes = [c.strip() for c in meta.get("classes", "").split(",") if c.strip()]
        return cls(name, session, classes, Preprocess.from_metadata(meta))

    def probabilities(self, pixels: Any, batch: int = 256) -> np.ndarray:
        """Class probabilities of a uint8 pixel batch (torch or NumPy)."""
        x = np.asarray(pixels, dtype=np.float32) * np.float32(self.prep.scale) + np.float32(
            self.prep.offset
        )
        first = self.session.get_inputs()[0]
        name = first.name
        if first.shape and isinstance(first.shape[0], int) and first.shape[0] > 0:
            batch = first.shape[0]  # exported with a fixed batch (the agent feeds one face)
        out = [self.session.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    def check(self) -> None:
        """Run one blank face; ModelMismatch when the answer is not one probability per class."""
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        channels = 1 if self.prep.gray else 3
        blank = np.zeros((1, channels, self.prep.size, self.prep.size), np.uint8)
        try:
            probs = self.probabilities(blank)
        except (ort_errors.Fail, ort_errors.InvalidArgument, ort_errors.RuntimeException) as exc:
            raise ModelMismatch(f"it does not run on a {self.prep.size}px face: {exc}") from None
        if not self.classes or probs.shape != (1, len(self.classes)):
            raise ModelMismatch(
                f"it answers with shape {probs.shape}, not one probability per class"
                f" of its metadata ({len(self.classes)})"
            )


class ModelMismatch(ValueError):
    """An ONNX file that loads but is not an emotion classifier of the agent's kind."""


@dataclass(frozen=True)
class Evaluation:
    """One set of faces to score: a split of a version, minus samples the model trained on."""

    name: str
    version: VersionSet
    splits: tuple[str, ...]
    exclude: frozenset[str] = frozenset()


def evaluate(
    evaluation: Evaluation, new: OnnxModel, baseline: OnnxModel | None, out_dir: Path
) -> dict[str, Any]:
    """Scores of both models, their differences, how often they agree, and confusion PNGs."""
    version = evaluation.version
    entry: dict[str, Any] = {
        "name": evaluation.name,
        "version": version.id,
        "splits": list(evaluation.splits),
        "excluded_seen_in_training": len(
            version.sample_ids(evaluation.splits) & evaluation.exclude
        ),
        "models": {},
        "confusion_png": {},
    }
    predictions: dict[str, list[str]] = {}
    for role, model in (("new", new), ("baseline", baseline)):
        if model is None:
            continue
        images = version.images(
            evaluation.splits, model.prep, originals_only=True, exclude=set(evaluation.exclude)
        )
        true = [version.classes[i] for i in images.labels.tolist()]
        probs = model.probabilities(images.pixels.numpy())
        predicted = [model.classes[i] for i in probs.argmax(1).tolist()] if len(probs) else []
        predictions[role] = predicted
        scored = metrics.scores(true, predicted, version.classes)
        scored["model"] = model.name
        entry["models"][role] = scored
        png = f"confusion-{_slug(evaluation.name)}-{role}.png"
        metrics.confusion_png(
            scored["confusion"], f"{model.name} on {evaluation.name} (n={len(true)})", out_dir / png
        )
        entry["confusion_png"][role] = png
    entry["n"] = entry["models"]["new"]["n"]
    if baseline is not None:
        a, b = entry["models"]["new"], entry["models"]["baseline"]
        entry["diff"] = {
            k: (round(a[k] - b[k], 4) if a[k] is not None and b[k] is not None else None)
            for k in ("top1", "macro_f1")
        }
        same = sum(x == y for x, y in zip(predictions["new"], predictions["baseline"], strict=True))
        entry["agreement"] = (
            round(same / len(predictions["new"]), 4) if predictions["new"] else None
        )
    return entry


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-")
