"""Trained models on disk: ``<data_dir>/models/<model id>/`` and what each folder holds.

Standard library only, so the web app and a model registry can list and read trained models
without PyTorch installed. A folder appears only once it is complete: training writes into
``models/.<id>.partial/`` and renames it at the end.

A model folder holds:

- ``model.onnx``: the network, with the metadata the agent reads (classes, input size,
  preprocessing) plus ``model_id``, ``parent`` and ``version``;
- ``card.json`` / ``card.md``: what it learnt from, the settings, the metrics, the parent;
- ``report.json``: the side-by-side evaluation against the parent (or deployed) model;
- ``confusion-<evaluation>-<model>.png``: one confusion matrix per evaluation and model.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
ONNX_FILE = "model.onnx"
CARD_JSON = "card.json"
CARD_MD = "card.md"
REPORT_JSON = "report.json"
BUNDLED = "bundled"  # the model shipped with facetrove (models/emotion_mini_xception.onnx)


class ModelFolderError(Exception):
    """A model id that is not allowed, taken or unknown; the message is meant for the user."""


@dataclass(frozen=True)
class ModelInfo:
    """One trained model folder, as listed."""

    id: str
    path: Path
    card: dict[str, Any]

    @property
    def onnx(self) -> Path:
        return self.path / ONNX_FILE

    @property
    def parent(self) -> str | None:
        parent: str | None = self.card.get("parent", {}).get("id")
        return parent

    @property
    def version(self) -> str:
        return str(self.card.get("version", {}).get("id", ""))


def models_root(data_dir: Path) -> Path:
    """Where trained models live under a collector's data folder."""
    return Path(data_dir) / "models"


def check_name(name: str) -> str:
    """``name`` if it can be a model id (and a folder name), else ModelFolderError."""
    if not re.fullmatch(MODEL_NAME, name) or name in ("bundled", "scratch"):
        raise ModelFolderError(
            f"model name {name!r} is not allowed: use lower case letters, digits, '.', '_' and"
            " '-', starting with a letter or digit (at most 63), and not 'bundled' or 'scratch'"
        )
    return name


def is_model_id(name: str) -> bool:
    """True if ``name`` has a model id's form (no ``/``, no leading ``.``): a folder of models/."""
    return re.fullmatch(MODEL_NAME, name) is not None


def model_dir(data_dir: Path, model_id: str) -> Path:
    """The folder of a finished model, or ModelFolderError naming the known ones."""
    check_name(model_id)
    path = models_root(data_dir) / model_id
    if not (path / ONNX_FILE).is_file():
        known = ", ".join(m.id for m in list_models(data_dir)) or "none yet"
        raise ModelFolderError(f"no trained model {model_id!r} (known: {known})")
    return path


def onnx_path(data_dir: Path, model_id: str) -> Path:
    """The ONNX file of a model: the shipped one for ``bundled``, else ``models/<id>/model.onnx``.

    Raises:
        ModelFolderError: no such finished folder; OSError (ModelNotFound): the shipped file is
            missing from the installation.
    """
    if model_id == BUNDLED:
        from facetrove import models

        return models.path(models.EMOTION_ONNX)
    return model_dir(data_dir, model_id) / ONNX_FILE


def list_models(data_dir: Path) -> list[ModelInfo]:
    """Finished models, oldest first (by the time in their card, then id)."""
    root = models_root(data_dir)
    found = []
    if root.is_dir():
        for path in root.iterdir():
            if path.name.startswith(".") or not (path / ONNX_FILE).is_file():
                continue
            try:
                card = json.loads((path / CARD_JSON).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                card = {}
            found.append(ModelInfo(path.name, path, card))
    return sorted(found, key=lambda m: (str(m.card.get("created_at", "")), m.id))


def load_card(data_dir: Path, model_id: str) -> dict[str, Any]:
    """The model card (card.json) of a finished model."""
    card: dict[str, Any] = json.loads(
        (model_dir(data_dir, model_id) / CARD_JSON).read_text(encoding="utf-8")
    )
    return card


def load_report(data_dir: Path, model_id: str) -> dict[str, Any]:
    """The side-by-side report (report.json) of a finished model."""
    report: dict[str, Any] = json.loads(
        (model_dir(data_dir, model_id) / REPORT_JSON).read_text(encoding="utf-8")
    )
    return report


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, as the agent computes it for its model id."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class PartialFolder:
    """``models/.<id>.partial``: filled by training, renamed to ``models/<id>`` by ``commit()``,
    removed if the ``with`` block fails, so nothing half-written is ever listed."""

    def __init__(self, data_dir: Path, model_id: str) -> None:
        self.final = models_root(data_dir) / check_name(model_id)
        self.path = self.final.parent / f".{model_id}.partial"
        self.committed = False

    def __enter__(self) -> PartialFolder:
        if self.final.exists():
            raise ModelFolderError(
                f"model {self.final.name!r} already exists at {self.final}: choose another --name"
            )
        shutil.rmtree(self.path, ignore_errors=True)  # left over by a killed run
        self.path.mkdir(parents=True)
        return self

    def commit(self) -> Path:
        """Make the folder visible under its final name."""
        self.path.rename(self.final)
        self.committed = True
        return self.final

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)
