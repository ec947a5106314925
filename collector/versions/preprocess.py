"""Preprocessing applied to every split: static crop, resize, grayscale, contrast equalisation.

Images are RGB ``uint8`` arrays; boxes are ``(xmin, ymin, xmax, ymax)`` floats in pixels of the
image they belong to and are transformed with it (boxes pushed fully outside are dropped).
"""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # never call PyPI on import

import albumentations as A
import cv2
import numpy as np

from facetrove.collector.versions.recipe import Preprocess, StaticCrop

Box = tuple[float, float, float, float]


def bbox_params() -> A.BboxParams:
    """How every pipeline here treats boxes: pixels, clipped to the image, empty ones dropped."""
    return A.BboxParams(
        format="pascal_voc", label_fields=["labels"], clip=True, filter_invalid_bboxes=True
    )


def compose(steps: list[A.BasicTransform], seed: int = 0) -> A.Compose:
    """A seeded pipeline; box handling only when a step moves pixels (else albumentations warns)."""
    moves = any(isinstance(t, A.DualTransform) for t in steps)
    return A.Compose(steps, bbox_params=bbox_params() if moves else None, seed=seed)


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """``box`` clipped to a ``width`` x ``height`` image, or None when nothing is left."""
    x0, y0 = max(0.0, min(box[0], width)), max(0.0, min(box[1], height))
    x1, y1 = max(0.0, min(box[2], width)), max(0.0, min(box[3], height))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return (x0, y0, x1, y1)


def static_crop(
    image: np.ndarray, boxes: list[Box], labels: list[str], crop: StaticCrop
) -> tuple[np.ndarray, list[Box], list[str]]:
    """Keep the region of ``crop`` (fractions of the image) and move the boxes with it."""
    h, w = image.shape[:2]
    x0, y0 = round(crop.x_min * w), round(crop.y_min * h)
    x1, y1 = max(x0 + 1, round(crop.x_max * w)), max(y0 + 1, round(crop.y_max * h))
    out = np.ascontiguousarray(image[y0:y1, x0:x1])
    moved, kept = [], []
    for b, label in zip(boxes, labels, strict=True):
        c = clip_box((b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0), x1 - x0, y1 - y0)
        if c is not None:
            moved.append(c)
            kept.append(label)
    return out, moved, kept


def preprocess_transforms(spec: Preprocess) -> list[A.BasicTransform]:
    """The albumentations transforms for resize, grayscale and equalisation (all p=1)."""
    steps: list[A.BasicTransform] = []
    if spec.resize is not None:
        w, h = spec.resize.width, spec.resize.height
        if spec.resize.mode == "stretch":
            steps.append(A.Resize(height=h, width=w, interpolation=cv2.INTER_AREA))
        elif spec.resize.mode == "fit":
            steps.append(A.LongestMaxSize(max_size_hw=(h, w), interpolation=cv2.INTER_AREA))
            steps.append(
                A.PadIfNeeded(min_height=h, min_width=w, border_mode=cv2.BORDER_CONSTANT, fill=0)
            )
        else:  # fill: scale so the image covers the target, then cut the centre out
            steps.append(A.SmallestMaxSize(max_size_hw=(h, w), interpolation=cv2.INTER_AREA))
            steps.append(A.CenterCrop(height=h, width=w))
    if spec.grayscale:
        steps.append(A.ToGray(num_output_channels=3, p=1.0))
    if spec.equalize == "clahe":
        steps.append(A.CLAHE(clip_limit=(2.0, 2.0), tile_grid_size=(8, 8), p=1.0))
    elif spec.equalize == "histogram":
        steps.append(A.Equalize(mode="cv", by_channels=True, p=1.0))
    return steps


class Preprocessor:
    """Applies a recipe's preprocessing to one image and its boxes."""

    def __init__(self, spec: Preprocess, *, is_frame: bool) -> None:
        self.spec = spec
        self.crop = spec.static_crop if is_frame else None
        steps = preprocess_transforms(spec)
        self.pipeline = compose(steps) if steps else None

    def __call__(
        self, image: np.ndarray, boxes: list[Box], labels: list[str]
    ) -> tuple[np.ndarray, list[Box], list[str]]:
        """The preprocessed image, and the boxes still in it with their labels."""
        if self.crop is not None:
            image, boxes, labels = static_crop(image, boxes, labels, self.crop)
        if self.pipeline is None:
            return image, boxes, labels
        # Nothing here should be random; re-seeding makes sure no transform's default sneaks
        # randomness in (CLAHE's clip limit is a range, for one).
        self.pipeline.set_random_seed(0)
        if "bboxes" not in self.pipeline.processors:
            return self.pipeline(image=image)["image"], boxes, labels
        out = self.pipeline(image=image, bboxes=boxes, labels=labels)
        return out["image"], [as_box(b) for b in out["bboxes"]], list(out["labels"])


def as_box(b: object) -> Box:
    x0, y0, x1, y1 = (float(v) for v in list(b)[:4])  # type: ignore[call-overload]
    return (x0, y0, x1, y1)
