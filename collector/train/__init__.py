"""Training better pre-label models on dataset versions (PyTorch, the ``train`` extra).

This package's ``__init__`` and ``folder`` need only the standard library, so the web app and a
model registry can list trained models without PyTorch::

    from facetrove.collector import train
    train.list_models(data_dir)              # [ModelInfo(id, path, card), ...]
    train.load_report(data_dir, "emo-v2")    # report.json as a dict
    train.model_dir(data_dir, "emo-v2")      # the folder; model.onnx inside

``train.run.train(data_dir, version, name, TrainSettings(...))`` trains (imports torch).
"""

from __future__ import annotations

import importlib.util
import os

from facetrove.collector.train.folder import (
    ModelFolderError,
    ModelInfo,
    list_models,
    load_card,
    load_report,
    model_dir,
    models_root,
)

# Read by OpenMP when torch loads, so it is set here, before any module of this package imports
# torch: threads that spin while they wait make training several times slower as soon as another
# process wants the cores (measured on 2 shared cores: 11 against 117 images/s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

TRAIN_EXTRA_MODULES = ("torch", "onnx", "onnxruntime")


def missing_modules() -> list[str]:
    """The modules of the ``train`` extra that are not installed."""
    return [m for m in TRAIN_EXTRA_MODULES if importlib.util.find_spec(m) is None]


__all__ = [
    "ModelFolderError",
    "ModelInfo",
    "list_models",
    "load_card",
    "load_report",
    "missing_modules",
    "model_dir",
    "models_root",
]
