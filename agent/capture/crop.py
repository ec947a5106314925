"""Square face crops and downscaled full frames, as JPEG."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facetrove.agent.config.capture import CropConfig


class CropError(RuntimeError):
    """An image could not be encoded."""


def square_region(box: tuple[int, int, int, int], margin: float) -> tuple[int, int, int, int]:
    """The square around ``box`` with ``margin`` (fraction of the longer side) on every side.

    The square may extend past the frame; ``Cropper.square`` pads what lies outside.
    """
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    half = side / 2.0
    sx0, sy0 = round(cx - half), round(cy - half)
    size = max(1, round(side))
    return sx0, sy0, sx0 + size, sy0 + size


def blur_boxes(image: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """A copy of ``image`` with each box (xmin, ymin, xmax, ymax), widened by an eighth,
    reduced to a 6 x 6 mosaic and scaled back: no face can be recognised in it."""
    out = image.copy()
    h, w = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        pad = max(x1 - x0, y1 - y0) // 8  # the box is tight: cover hair and chin too
        x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
        x1, y1 = min(w, x1 + pad), min(h, y1 + pad)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        area = out[y0:y1, x0:x1]
        small = cv2.resize(area, (6, 6), interpolation=cv2.INTER_AREA)
        out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return out


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Encode BGR or grey pixels as a baseline JPEG."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise CropError(f"JPEG encoding failed for an image of shape {image.shape}")
    return buf.tobytes()


class Cropper:
    """Makes the crop (and optionally the full frame) that a sample carries."""

    def __init__(self, config: CropConfig | None = None) -> None:
        self.config = config or CropConfig()

    def square(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """A ``size`` x ``size`` square around the face, padded with black where the square
        leaves the frame (so the face stays centred)."""
        h, w = image.shape[:2]
        sx0, sy0, sx1, sy1 = square_region(box, self.config.margin)
        cx0, cy0, cx1, cy1 = max(sx0, 0), max(sy0, 0), min(sx1, w), min(sy1, h)
        region = image[cy0:cy1, cx0:cx1]
        pads = (cy0 - sy0, sy1 - cy1, cx0 - sx0, sx1 - cx1)
        if any(pads):
            region = cv2.copyMakeBorder(region, *pads, cv2.BORDER_CONSTANT, value=0)
        size = self.config.size
        interp = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_LINEAR
        return cv2.resize(region, (size, size), interpolation=interp)

    def inner(self, crop: np.ndarray, margin: float = 0.1) -> np.ndarray:
        """The centre of a crop with a tighter ``margin`` (the emotion model wants tight faces)."""
        size = crop.shape[0]
        keep = (1.0 + 2.0 * margin) / (1.0 + 2.0 * self.config.margin)
        if keep >= 1.0:
            return crop
        side = max(1, round(size * keep))
        start = (size - side) // 2
        return crop[start : start + side, start : start + side]

    def crop_jpeg(self, crop: np.ndarray) -> bytes:
        """The crop as JPEG at ``jpeg_quality``."""
        return encode_jpeg(crop, self.config.jpeg_quality)

    def frame_jpeg(self, image: np.ndarray) -> bytes:
        """The full frame, longest side at most ``frame_max_side``, as JPEG."""
        h, w = image.shape[:2]
        longest = max(h, w)
        limit = self.config.frame_max_side
        if longest > limit:
            scale = limit / longest
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return encode_jpeg(image, self.config.frame_jpeg_quality)
