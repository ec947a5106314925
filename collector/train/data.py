"""A version's face crops as tensors, preprocessed exactly as the agent preprocesses a face.

The agent (agent/prelabel.py) converts a BGR crop to gray, resizes it with ``INTER_AREA`` to the
model's input size and scales the pixels with the model's ``preprocess_scale`` and
``preprocess_offset``. The same steps here, on the version's crop files, keep training and
pre-labelling in step; pixels stay uint8 in memory (10,000 crops at 64x64 are 40 MB) and become
float per batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

SPLITS = ("train", "valid", "test")


class DataError(ValueError):
    """A version that cannot be trained on; the message is meant for the user."""


@dataclass(frozen=True)
class Preprocess:
    """How a model wants its input: side, scale, offset, gray or colour."""

    size: int
    scale: float
    offset: float
    gray: bool

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str]) -> Preprocess:
        try:
            return cls(
                int(meta["input_size"]),
                float(meta["preprocess_scale"]),
                float(meta["preprocess_offset"]),
                meta.get("color", "grayscale") == "grayscale",
            )
        except (KeyError, ValueError) as exc:
            raise DataError(
                f"model metadata lacks input_size/preprocess_scale/preprocess_offset ({exc})"
            ) from None

    def pixels(self, bgr: np.ndarray) -> np.ndarray:
        """One BGR crop -> uint8 (C, size, size), as the agent resizes it."""
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if self.gray and bgr.ndim == 3 else bgr
        image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return image[None] if image.ndim == 2 else image.transpose(2, 0, 1)

    def to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> the model's float input (the agent's float32 arithmetic)."""
        x: torch.Tensor = pixels.to(torch.float32) * float(np.float32(self.scale))
        return x + float(np.float32(self.offset))


@dataclass
class Images:
    """Crops of one split: uint8 pixels, class indices, and which sample each came from."""

    pixels: torch.Tensor
    labels: torch.Tensor
    sample_ids: list[str]

    def __len__(self) -> int:
        return len(self.sample_ids)


@dataclass(frozen=True)
class VersionSet:
    """A built version folder: card, classes and the manifest's crop rows."""

    id: str
    path: Path
    card: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    def sample_ids(self, splits: Sequence[str]) -> set[str]:
        return {r["sample_id"] for r in self.rows if r["split"] in splits}

    def images(
        self,
        split: str | Sequence[str],
        prep: Preprocess,
        *,
        originals_only: bool = False,
        exclude: set[str] | None = None,
    ) -> Images:
        """The crops of ``split`` (one name or several), preprocessed for ``prep``."""
        splits = (split,) if isinstance(split, str) else tuple(split)
        rows = [
            r
            for r in self.rows
            if r["split"] in splits
            and not (originals_only and r["copy"])
            and not (exclude and r["sample_id"] in exclude)
        ]
        index = {c: i for i, c in enumerate(self.classes)}

        def read(row: dict[str, Any]) -> np.ndarray:
            bgr = cv2.imread(str(self.path / row["file"]), cv2.IMREAD_COLOR)
            if bgr is None:
                raise DataError(f"version {self.id}: cannot read {row['file']}")
            return prep.pixels(bgr)

        with ThreadPoolExecutor(2) as pool:  # cv2 releases the GIL while decoding
            arrays = list(pool.map(read, rows))
        channels = 1 if prep.gray else 3
        pixels = (
            torch.from_numpy(np.stack(arrays))
            if arrays
            else torch.zeros((0, channels, prep.size, prep.size), dtype=torch.uint8)
        )
        labels = torch.tensor([index[r["labels"][0]] for r in rows], dtype=torch.int64)
        return Images(pixels, labels, [r["sample_id"] for r in rows])


def versions_root(data_dir: Path) -> Path:
    return Path(data_dir) / "versions"


def known_versions(data_dir: Path) -> list[str]:
    root = versions_root(data_dir)
    return (
        sorted(p.name for p in root.iterdir() if (p / "card.json").is_file())
        if root.is_dir()
        else []
    )


def open_version(data_dir: Path, version_id: str) -> VersionSet:
    """A ready version's folder; DataError if it does not exist or holds no labelled crops."""
    path = versions_root(data_dir) / version_id
    if "/" in version_id or version_id.startswith(".") or not (path / "card.json").is_file():
        known = ", ".join(known_versions(data_dir)) or "none yet"
        raise DataError(f"no ready version {version_id!r} in {data_dir} (known: {known})")
    card = json.loads((path / "card.json").read_text(encoding="utf-8"))
    rows = []
    with (path / "manifest.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["kind"] == "crop" and row.get("labels"):
                rows.append(row)
    if not rows:
        raise DataError(
            f"version {version_id} has no labelled face crops (its recipe's task is"
            f" {card.get('recipe', {}).get('task', '?')!r}): build one with task classification"
            " or both"
        )
    unknown = {r["labels"][0] for r in rows} - set(card["classes"])
    if unknown:
        raise DataError(f"version {version_id}: labels {sorted(unknown)} are not in its classes")
    return VersionSet(version_id, path, card, rows)
