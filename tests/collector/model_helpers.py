"""Trained-model folders for the registry and rollout tests, without PyTorch: the shipped ONNX
with one more metadata entry (so other bytes, another sha256) and a card like training writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facetrove.collector.train import folder


def model_folder(data_dir: Path, model_id: str, *, parent: str = "bundled") -> Path:
    """Write ``data_dir/models/<model_id>/`` (model.onnx, card.json) as `train` would."""
    onnx = pytest.importorskip("onnx")
    from facetrove import models

    proto = onnx.load(str(models.path(models.EMOTION_ONNX)))
    for prop in proto.metadata_props:
        if prop.key == "model_id":
            prop.value = model_id
    proto.metadata_props.add(key="revision", value=model_id)
    path = folder.models_root(data_dir) / model_id
    path.mkdir(parents=True)
    onnx.save(proto, str(path / folder.ONNX_FILE))
    card = {
        "model_id": model_id,
        "created_at": f"2026-01-01T00:00:{len(list(path.parent.iterdir())):02d}+00:00",
        "classes": list(models.EMOTION_CLASSES),
        "parent": {"id": parent},
        "version": {"id": "v1"},
        "metrics": {"v1 test": {"new": {"top1": 0.8, "macro_f1": 0.7, "n": 10},
                                "baseline": {"top1": 0.6, "macro_f1": 0.5, "n": 10}}},
    }  # fmt: skip
    (path / folder.CARD_JSON).write_text(json.dumps(card))
    return path
