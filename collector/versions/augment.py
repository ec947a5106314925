"""Train-split augmentation with albumentations, deterministic per (seed, sample, copy).

One pipeline is built per worker process; before each image it is re-seeded from a digest of
``(recipe seed, sample id, copy number)`` so the output never depends on which worker ran it or in
what order: the same recipe on the same samples gives byte-identical images.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # never call PyPI on import

import albumentations as A
import cv2
import numpy as np

from facetrove.collector.versions.preprocess import Box, as_box, compose
from facetrove.collector.versions.recipe import Augmentations


def copy_seed(seed: int, sample_id: str, copy: int) -> int:
    """The 32-bit seed of one augmented copy of one sample."""
    digest = hashlib.sha256(f"{seed}\0{sample_id}\0{copy}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def augmentation_transforms(augs: Augmentations) -> list[A.BasicTransform]:
    """albumentations transforms for the enabled augmentations, in their fixed order."""
    t: list[A.BasicTransform] = []
    black = cv2.BORDER_CONSTANT
    if augs.flip is not None:
        if augs.flip.horizontal:
            t.append(A.HorizontalFlip(p=augs.flip.p))
        if augs.flip.vertical:
            t.append(A.VerticalFlip(p=augs.flip.p))
    if augs.rotate90 is not None:
        t.append(A.RandomRotate90(p=augs.rotate90.p))
    if augs.rotation is not None:
        d = augs.rotation.degrees
        t.append(A.Rotate(limit=(-d, d), border_mode=black, fill=0, p=augs.rotation.p))
    if augs.shear is not None:
        d = augs.shear.degrees
        t.append(A.Affine(shear={"x": (-d, d), "y": (-d, d)}, border_mode=black, p=augs.shear.p))
    if augs.crop is not None:
        m = augs.crop.max_percent
        t.append(A.CropAndPad(percent=(-m, 0.0), keep_size=True, p=augs.crop.p))
    if augs.grayscale is not None:
        t.append(A.ToGray(num_output_channels=3, p=augs.grayscale.p))
    if augs.hue is not None:
        # OpenCV's 8-bit hue runs 0..179, so albumentations' hue limit is in half-degrees.
        h = augs.hue.degrees / 2
        t.append(A.HueSaturationValue((-h, h), (0, 0), (0, 0), p=augs.hue.p))
    if augs.saturation is not None:
        s = augs.saturation.percent * 255 / 100
        t.append(A.HueSaturationValue((0, 0), (-s, s), (0, 0), p=augs.saturation.p))
    if augs.brightness is not None:
        b = augs.brightness.percent / 100
        t.append(A.RandomBrightnessContrast((-b, b), (0, 0), p=augs.brightness.p))
    if augs.exposure is not None:
        e = augs.exposure.percent
        t.append(A.RandomGamma(gamma_limit=(100 - e, 100 + e), p=augs.exposure.p))
    if augs.blur is not None:
        t.append(A.Blur(blur_limit=(3, augs.blur.max_kernel), p=augs.blur.p))
    if augs.motion_blur is not None:
        t.append(A.MotionBlur(blur_limit=(3, augs.motion_blur.max_kernel), p=augs.motion_blur.p))
    if augs.noise is not None:
        t.append(A.GaussNoise(std_range=(0.0, augs.noise.percent / 100), p=augs.noise.p))
    if augs.cutout is not None:
        c = augs.cutout
        t.append(
            A.CoarseDropout(
                num_holes_range=(1, c.holes),
                hole_height_range=(c.size / 2, c.size),
                hole_width_range=(c.size / 2, c.size),
                fill=0,
                p=c.p,
            )
        )
    return t


class Augmenter:
    """Applies a recipe's augmentations to one image (and its boxes, and optionally a mask)."""

    def __init__(self, augs: Augmentations, seed: int) -> None:
        self.seed = seed
        self.pipeline = compose(augmentation_transforms(augs))

    def __call__(
        self,
        image: np.ndarray,
        boxes: list[Box],
        labels: list[str],
        sample_id: str,
        copy: int,
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[Box], list[str], np.ndarray | None]:
        """Augmented copy number ``copy`` (1-based) of ``sample_id``'s image.

        Returns the image, the boxes still in it with their labels, and the moved ``mask`` (same
        height and width as the image; tests use it to check the boxes still cover the face).
        """
        self.pipeline.set_random_seed(copy_seed(self.seed, sample_id, copy))
        data: dict[str, Any] = {"image": image}
        if mask is not None:
            data["mask"] = mask
        if "bboxes" not in self.pipeline.processors:  # colour-only: boxes stay where they are
            out = self.pipeline(**data)
            return out["image"], boxes, labels, out.get("mask")
        out = self.pipeline(**data, bboxes=boxes, labels=labels)
        moved = [as_box(b) for b in out["bboxes"]]
        return out["image"], moved, list(out["labels"]), out.get("mask")
