"""TIFF images: JAFFE, the posed set issue 12's figures came from, is 213 grayscale TIFF files
named ``KA.AN1.39.tiff``. Before: every one was skipped as not-an-image, so the set could not be
imported without converting it first."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrove.collector.importer import images as img
from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.store import DB_NAME, connect
from tests.collector.importer.conftest import face_boxes
from tests.support.data import pyfeat_data

PEOPLE = ("KA", "KL", "KM")


def _jaffe_like(root: Path) -> int:
    """256 px grayscale TIFF photos of real faces, JAFFE's names and folders by class."""
    n = 0
    for i, (photo, label, (x0, y0, x1, y1)) in enumerate(face_boxes()[:3]):
        grey = cv2.imread(str(pyfeat_data() / photo), cv2.IMREAD_GRAYSCALE)
        pad = (x1 - x0) // 4  # a face with some hair and neck, as JAFFE's photos are
        face = grey[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
        for j in range(3):
            big = cv2.resize(face[j:, j:], (256, 256), interpolation=cv2.INTER_AREA)
            (root / label).mkdir(parents=True, exist_ok=True)
            suffix = ".tiff" if j < 2 else ".tif"
            assert cv2.imwrite(
                str(root / label / f"{PEOPLE[i]}.{label[:2].upper()}{j}.{n}{suffix}"), big
            )
            n += 1
    return n


def test_a_jaffe_like_tiff_set_imports_with_its_subjects(tmp_path: Path) -> None:
    n = _jaffe_like(tmp_path / "jaffe")
    db = connect(tmp_path / "data" / DB_NAME)
    options = ImportOptions(subject_from="regex:^([A-Z]+)[.]", tag="JAFFE-like")
    summary = Importer(tmp_path / "data", db, options).run(tmp_path / "jaffe")
    assert summary.imported == n and summary.faces == {"cropped": n}, summary.lines()
    assert dict(summary.subjects) == dict.fromkeys(PEOPLE, 3)
    for row in db.query("select crop_sha256, crop_width, crop_height from samples"):
        assert row["crop_width"] == row["crop_height"] == 256
        stored = (tmp_path / "data" / "blobs").rglob(f"{row['crop_sha256']}*")
        assert next(stored).read_bytes()[:2] == b"\xff\xd8"  # kept as JPEG, like PNG is


def _tiff_header(width: int, height: int, big_endian: bool = False) -> bytes:
    """A classic TIFF whose first IFD claims ``width`` x ``height`` (LONG entries), no pixels."""
    e = ">" if big_endian else "<"
    head = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", 8)
    entries = [(256, 4, 1, width), (257, 4, 1, height)]
    ifd = struct.pack(e + "H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack(e + "HHII", tag, kind, count, value)
    return head + ifd + struct.pack(e + "I", 0)


@pytest.mark.parametrize("big_endian", [False, True])
def test_tiff_sizes_come_from_the_header(big_endian: bool) -> None:
    assert img.header_size(_tiff_header(256, 192, big_endian)) == (256, 192)
    with pytest.raises(img.BadImage) as bomb:
        img.header_size(_tiff_header(60000, 60000, big_endian))
    assert bomb.value.reason == "too-large"


def test_the_headers_opencv_writes_are_read() -> None:
    """OpenCV writes its sizes as SHORT entries; the synthetic headers above use LONG."""
    for shape in ((48, 40), (233, 300)):
        ok, buf = cv2.imencode(".tiff", np.zeros(shape, np.uint8))
        assert ok
        assert img.header_size(buf.tobytes()) == (shape[1], shape[0])


@pytest.mark.parametrize(
    "data",
    [
        b"II*\x00",  # no IFD offset
        b"II*\x00" + struct.pack("<I", 4000),  # IFD past the end
        _tiff_header(256, 256)[:14],  # an entry cut short
        b"II+\x00" + b"\x00" * 12,  # BigTIFF
    ],
    ids=["no-offset", "ifd-past-end", "cut-entry", "bigtiff"],
)
def test_broken_tiff_headers_are_broken_images_not_crashes(data: bytes) -> None:
    with pytest.raises(img.BadImage) as exc:
        img.header_size(data)
    assert exc.value.reason in ("broken-image", "not-an-image")
