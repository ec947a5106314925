"""Checking and preparing imported images with OpenCV (already a collector dependency).

Sizes are read from the file header before anything is decoded, so a 60,000 x 60,000 PNG of a
few kilobytes is refused without allocating gigabytes. JPEG bytes are stored as they are (exact
duplicates stay exact); other formats are stored as JPEG.
"""

from __future__ import annotations

import math
import struct

import cv2
import numpy as np

from facetrove.wire.jpeg import jpeg_size

MAX_SIDE = 16384
MAX_PIXELS = 60_000_000
MIN_FACE_PX = 8
JPEG_QUALITY = 95
#: ``--faces auto`` takes an image for a face crop when its shorter side is at most this and it
#: is nearly square: public expression sets are 48 to 256 px crops, photos are larger.
CROP_MAX_SIDE = 320
CROP_MAX_ASPECT = 1.5


class BadImage(ValueError):
    """An image that cannot be imported; ``reason`` is the summary's key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


def header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header of a JPEG, PNG, BMP, WebP or TIFF. Raises BadImage."""
    try:
        if data[:2] == b"\xff\xd8":
            w, h = jpeg_size(data)
        elif data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
        elif data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            h = abs(h)
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            w, h = _webp_size(data)
        elif data[:4] in (b"II*\x00", b"MM\x00*"):
            w, h = _tiff_size(data)
        else:
            raise BadImage("not-an-image", "not a JPEG, PNG, BMP, WebP or TIFF file")
    except (ValueError, struct.error) as exc:
        if isinstance(exc, BadImage):
            raise
        raise BadImage("broken-image", str(exc)) from None
    if w < 1 or h < 1:
        raise BadImage("broken-image", f"size {w}x{h}")
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise BadImage("too-large", f"{w}x{h} pixels")
    return w, h


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    raise ValueError("unknown WebP chunk")


def _tiff_size(data: bytes) -> tuple[int, int]:
    """ImageWidth (256) and ImageLength (257) of a classic TIFF's first image directory."""
    e = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(e + "I", data[4:8])
    (count,) = struct.unpack(e + "H", data[offset : offset + 2])
    size: dict[int, int] = {}
    for k in range(count):
        entry = data[offset + 2 + 12 * k : offset + 14 + 12 * k]
        tag, kind = struct.unpack(e + "HH", entry[:4])
        if tag not in (256, 257):
            continue
        if kind == 3:  # SHORT
            (size[tag],) = struct.unpack(e + "H", entry[8:10])
        elif kind == 4:  # LONG
            (size[tag],) = struct.unpack(e + "I", entry[8:12])
        else:
            raise ValueError(f"TIFF size entry {tag} of type {kind}")
    if 256 not in size or 257 not in size:
        raise ValueError("no image size in the TIFF's first directory")
    return size[256], size[257]


def decode(data: bytes) -> np.ndarray:
    """Pixels as uint8 BGR or grey (alpha dropped, 16-bit scaled). Raises BadImage."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise BadImage("broken-image", "OpenCV cannot decode it")
    if image.dtype == np.uint16:
        image = (image // 256).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise BadImage("broken-image", f"unsupported pixel type {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image


def encode_jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise BadImage("broken-image", "cannot encode it as JPEG")
    return buf.tobytes()


def is_jpeg(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8"


def looks_like_crop(width: int, height: int, max_side: int | None = CROP_MAX_SIDE) -> bool:
    """``--faces auto``: is an image of this size a face crop? (nearly square, and at most
    ``max_side`` px on its shorter side unless that is None)"""
    short, long = min(width, height), max(width, height)
    small = max_side is None or short <= max_side
    return small and long <= short * CROP_MAX_ASPECT


def quality(image: np.ndarray) -> tuple[float, float]:
    """(blur, brightness) of a face as the agent measures them: variance of the Laplacian at
    96x96 grey, mean grey level."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (96, 96), interpolation=cv2.INTER_AREA)
    blur = float(cv2.Laplacian(small, cv2.CV_64F).var())
    return blur, float(grey.mean())


def pixel_box(
    box: tuple[float, float, float, float], width: int, height: int, normalized: bool
) -> tuple[int, int, int, int]:
    """Whole-pixel ``xmin, ymin, xmax, ymax`` (exclusive) inside the image. Raises BadImage for
    a box with no area, too small, clearly outside the image, or with NaN or infinite numbers."""
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box):
        raise BadImage("bad-annotation", f"box {box} has a number that is not finite")
    if normalized:
        x0, x1, y0, y1 = x0 * width, x1 * width, y0 * height, y1 * height
    slack = max(2.0, 0.01 * max(width, height))
    if x0 < -slack or y0 < -slack or x1 > width + slack or y1 > height + slack:
        raise BadImage("box-outside-image", f"box {box} in a {width}x{height} image")
    xmin, ymin = max(0, math.floor(x0 + 0.5)), max(0, math.floor(y0 + 0.5))
    xmax, ymax = min(width, math.floor(x1 + 0.5)), min(height, math.floor(y1 + 0.5))
    if xmax - xmin < MIN_FACE_PX or ymax - ymin < MIN_FACE_PX:
        raise BadImage("face-too-small", f"box {box} is under {MIN_FACE_PX} px")
    return xmin, ymin, xmax, ymax
