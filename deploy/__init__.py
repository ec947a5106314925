"""The deployment files facetrove ships inside its wheel: lock files, OpenCV overrides, systemd
units, example configs, the Mosquitto config and the compose file.

Standard library only: ``python -m facetrove.deploy`` must work right after
``pip install --no-deps facetrove-*.whl``, before any dependency is installed, because it prints
the lock file that installs them. In a clone the same files are in deploy/.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

DIR = Path(__file__).resolve().parent

FLAVOURS = ("agent", "collector", "all", "dev")
"""Lock flavours: the extras each lock installs (``dev`` is all + the test tools)."""
ARCHES = ("x86_64", "aarch64")
"""Architectures the locks are resolved for (Linux, CPython 3.11)."""
LOCK_PYTHON = (3, 11)
"""The Python version the locks are resolved for."""

# Files that are tools of the repository, not deployment material.
_NOT_SHIPPED = {"__init__.py", "__main__.py", "make_locks.py", "check_dist.py"}


class DeployFileError(LookupError):
    """A deployment file or lock that facetrove does not ship."""


def files() -> list[str]:
    """Every shipped deployment file, relative to this folder (``locks/agent-aarch64.txt``)."""
    found = []
    for path in sorted(DIR.rglob("*")):
        rel = path.relative_to(DIR)
        if path.is_file() and rel.name not in _NOT_SHIPPED and "__pycache__" not in rel.parts:
            found.append(rel.as_posix())
    return found


def path(name: str) -> Path:
    """The absolute path of one shipped file.

    Raises:
        DeployFileError: ``name`` is not one of :func:`files`.
    """
    if name not in files():
        raise DeployFileError(f"no deployment file {name!r}; these exist: {', '.join(files())}")
    return DIR / name


def machine_arch() -> str:
    """This machine's architecture in the locks' naming (``x86_64`` or ``aarch64``)."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def lock_path(flavour: str, arch: str | None = None) -> Path:
    """The lock file for ``flavour`` on ``arch`` (default: this machine).

    Raises:
        DeployFileError: unknown flavour, or no lock for that architecture (32-bit ARM, ...).
    """
    arch = arch or machine_arch()
    if flavour not in FLAVOURS:
        raise DeployFileError(f"unknown lock {flavour!r}: choose one of {', '.join(FLAVOURS)}")
    if arch not in ARCHES:
        raise DeployFileError(
            f"no lock for architecture {arch!r} (locks exist for {', '.join(ARCHES)}; "
            "a Raspberry Pi needs the 64-bit OS)"
        )
    return path(f"locks/{flavour}-{arch}.txt")


def python_mismatch() -> str | None:
    """A warning when this Python is not the one the locks are resolved for, else None."""
    if sys.version_info[:2] == LOCK_PYTHON:
        return None
    want = ".".join(map(str, LOCK_PYTHON))
    have = ".".join(map(str, sys.version_info[:2]))
    return (
        f"the locks are resolved for CPython {want}, this is {have}: some pins may have no wheel "
        "here; use the uv route with the overrides instead (docs/install.md)"
    )
