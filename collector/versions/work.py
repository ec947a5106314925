"""The per-image work of a version build, run in worker processes: decode, preprocess, augment,
encode, write. Nothing here touches the database; each job carries everything it needs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # never call PyPI on import

import cv2
import numpy as np

from facetrove.collector.versions.augment import Augmenter
from facetrove.collector.versions.preprocess import Box, Preprocessor
from facetrove.collector.versions.recipe import Recipe


@dataclass(frozen=True)
class Job:
    """One output image: which blob, which boxes, which copy, where to write it."""

    index: int
    kind: str  # "crop" | "frame"
    blob: str  # path of the source JPEG
    out: str  # path to write, relative to the version folder
    name: str  # seed key of this image (the sample id, or the frame's first sample id)
    copy: int  # 0 = not augmented, 1.. = augmented copy
    width: int | None  # known size of the source image (None: read it)
    height: int | None
    boxes: tuple[Box, ...]  # in source-image pixels
    labels: tuple[str, ...]  # one per box (frames) or one for the crop


@dataclass(frozen=True)
class Done:
    """What a job produced, for the manifest."""

    index: int
    width: int
    height: int
    boxes: tuple[Box, ...]
    labels: tuple[str, ...]


class Worker:
    """Holds the pipelines of one recipe; one per process."""

    def __init__(self, recipe: Recipe, root: Path) -> None:
        self.recipe = recipe
        self.root = root
        self.pre = {
            "crop": Preprocessor(recipe.preprocess, is_frame=False),
            "frame": Preprocessor(recipe.preprocess, is_frame=True),
        }
        self.augment = (
            Augmenter(recipe.augmentations, recipe.seed) if recipe.augmentations.enabled() else None
        )
        self.identity = recipe.preprocess.is_identity()
        self._last: tuple[Any, tuple[np.ndarray, list[Box], list[str]]] | None = None
        cv2.setNumThreads(1)  # one process per core already; threads would only contend

    def _preprocessed(self, job: Job) -> tuple[np.ndarray, list[Box], list[str]]:
        """Decode + preprocess, remembering the last result: a sample's copies are consecutive
        jobs, so each source image is decoded once, not once per copy."""
        key = (job.blob, job.kind, job.boxes, job.labels)
        if self._last is not None and self._last[0] == key:
            image, boxes, labels = self._last[1]
            return image, list(boxes), list(labels)
        bgr = cv2.imdecode(np.fromfile(job.blob, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode image {job.blob}")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        labels_in = list(job.labels) if job.boxes else []
        result = self.pre[job.kind](image, list(job.boxes), labels_in)
        self._last = (key, result)
        return result[0], list(result[1]), list(result[2])

    def run(self, job: Job) -> Done:
        """Produce one output image and return its size and boxes."""
        target = self.root / job.out
        if self.identity and job.copy == 0 and job.width and job.height:
            # Nothing changes the pixels: keep the original JPEG bytes (lossless and fast).
            shutil.copyfile(job.blob, target)
            return Done(job.index, job.width, job.height, job.boxes, job.labels)
        image, boxes, labels = self._preprocessed(job)
        if job.copy > 0 and self.augment is not None:
            image, boxes, labels, _ = self.augment(image, boxes, labels, job.name, job.copy)
        if not job.boxes:  # a crop: its label is not tied to a box
            labels = list(job.labels)
        ok, jpeg = cv2.imencode(
            ".jpg",
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, self.recipe.jpeg_quality],
        )
        if not ok:
            raise ValueError(f"cannot encode {job.out}")
        target.write_bytes(jpeg.tobytes())
        h, w = image.shape[:2]
        return Done(job.index, w, h, tuple(_rounded(b) for b in boxes), tuple(labels))


def _rounded(box: Box) -> Box:
    x0, y0, x1, y1 = box
    return (round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2))


# --- process-pool plumbing: one Worker per process, built by the initializer -------------------

_WORKER: Worker | None = None


def init_worker(recipe_json: str, root: str) -> None:
    """Process-pool initializer: build this process's pipelines once."""
    global _WORKER
    _WORKER = Worker(Recipe.model_validate_json(recipe_json), Path(root))


def run_chunk(jobs: list[Job]) -> list[Done]:
    """Run a chunk of jobs in this worker process."""
    assert _WORKER is not None, "init_worker was not called"
    return [_WORKER.run(j) for j in jobs]


def describe(done: Done) -> dict[str, Any]:
    """Manifest fields of a finished job."""
    return {
        "width": done.width,
        "height": done.height,
        "boxes": [list(b) for b in done.boxes],
        "labels": list(done.labels),
    }
