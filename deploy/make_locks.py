"""Resolve pinned lock files for every install flavour on x86_64 and aarch64 (run: make lock).

Each lock is resolved by ``uv pip compile`` for CPython 3.11 on Linux with deploy/overrides.txt,
which keeps a single OpenCV distribution (opencv-python-headless 4.x) although mediapipe declares
opencv-contrib-python and supervision declares opencv-python. Nothing is installed.

A lock is written only if it passes the house rules: exactly one OpenCV distribution, the
headless 4.x build; no torch anywhere; no Flask, albumentations or torch in an agent lock; no
MediaPipe in a collector lock; and a dry-run install (``uv pip install --dry-run --only-binary
:all:`` for the target platform) must find a wheel for every pin, so a Raspberry Pi never has to
build anything. Any violation stops the script with exit code 1.

The locks are also the plain-pip install route (see docs/install.md)::

    pip install --no-deps -r deploy/locks/agent-aarch64.txt
    pip install --no-deps .

Usage::

    python deploy/make_locks.py                # all locks
    python deploy/make_locks.py --only agent   # one flavour, both architectures
    python deploy/make_locks.py --check        # fail if the committed locks are stale
    python deploy/make_locks.py --no-wheels    # skip the dry-run install that checks target wheels
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS_DIR = ROOT / "deploy" / "locks"
OVERRIDES = "deploy/overrides.txt"
PYTHON_VERSION = "3.11"

#: lock name -> extras it installs ("dev" is the full test environment)
FLAVOURS: dict[str, list[str]] = {
    "agent": ["agent"],
    "collector": ["collector"],
    "all": ["all"],
    "dev": ["all", "dev"],
}
#: short architecture name -> uv target triple
ARCHES: dict[str, str] = {
    "x86_64": "x86_64-unknown-linux-gnu",
    "aarch64": "aarch64-unknown-linux-gnu",
}
#: distributions a flavour must never contain
FORBIDDEN: dict[str, set[str]] = {
    "agent": {"flask", "albumentations", "torch"},
    "collector": {"mediapipe", "torch"},
    "all": {"torch"},
    "dev": {"torch"},
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


class LockError(Exception):
    """A resolved lock breaks a house rule, or the resolver failed."""


def normalise(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line of a lock."""
    pins = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def opencv_pins(pins: dict[str, str]) -> dict[str, str]:
    """The OpenCV distributions in a lock (every name starting with ``opencv``)."""
    return {name: version for name, version in pins.items() if name.startswith("opencv")}


def check_lock(flavour: str, text: str) -> list[str]:
    """Return the house-rule violations of one resolved lock (empty if it is fine)."""
    pins = read_pins(text)
    problems = []
    cv = opencv_pins(pins)
    if list(cv) != ["opencv-python-headless"]:
        problems.append(
            f"expected exactly one OpenCV (opencv-python-headless), found {cv or 'none'}"
        )
    elif not cv["opencv-python-headless"].startswith("4."):
        problems.append(f"OpenCV must be 4.x, got {cv['opencv-python-headless']}")
    bad = sorted(FORBIDDEN[flavour] & set(pins))
    if bad:
        problems.append(f"{flavour} lock must not contain {', '.join(bad)}")
    if flavour in ("agent", "all", "dev") and "mediapipe" not in pins:
        problems.append("mediapipe is missing")
    return problems


def find_uv() -> str:
    """The uv next to this Python (make install puts it in the venv), else the one on PATH."""
    local = Path(sys.executable).parent / "uv"
    if local.exists():
        return str(local)
    found = shutil.which("uv")
    if not found:
        raise LockError("uv not found: run `make install` or `pip install uv`")
    return found


def compile_lock(uv: str, flavour: str, arch: str, out: Path) -> str:
    """Resolve one lock with uv into ``out`` and return its text."""
    cmd = [uv, "pip", "compile", "pyproject.toml", "--quiet"]
    for extra in FLAVOURS[flavour]:
        cmd += ["--extra", extra]
    cmd += [
        "--python-version",
        PYTHON_VERSION,
        "--python-platform",
        ARCHES[arch],
        "--overrides",
        OVERRIDES,
        "--custom-compile-command",
        f"make lock  # {flavour} on {arch}, Python {PYTHON_VERSION}",
        "--output-file",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise LockError(f"uv pip compile failed for {flavour}-{arch}:\n{proc.stderr.strip()}")
    return out.read_text()


def check_wheels(uv: str, lock: Path, arch: str) -> None:
    """Dry-run an install of the lock for the target platform: every pin needs a wheel there."""
    with tempfile.TemporaryDirectory() as target:
        cmd = [uv, "pip", "install", "--dry-run", "--quiet", "--no-deps", "--only-binary", ":all:"]
        cmd += ["--python-platform", ARCHES[arch], "--python-version", PYTHON_VERSION]
        cmd += ["--target", target, "-r", str(lock)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise LockError(f"{lock.name}: a pin has no {arch} wheel:\n{proc.stderr.strip()[-1500:]}")


def main(argv: list[str] | None = None) -> int:
    """Resolve, check and write the locks; exit code 1 on any violation."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(FLAVOURS), action="append", help="flavour(s)")
    parser.add_argument("--check", action="store_true", help="fail if committed locks are stale")
    parser.add_argument(
        "--no-wheels", action="store_true", help="skip the check that every pin has a target wheel"
    )
    args = parser.parse_args(argv)
    flavours = args.only or list(FLAVOURS)
    failures = []
    try:
        uv = find_uv()
        with tempfile.TemporaryDirectory() as tmp:
            for flavour in flavours:
                for arch in ARCHES:
                    name = f"{flavour}-{arch}.txt"
                    resolved = compile_lock(uv, flavour, arch, Path(tmp) / name)
                    problems = check_lock(flavour, resolved)
                    committed = LOCKS_DIR / name
                    if problems:
                        failures += [f"{name}: {p}" for p in problems]
                        continue
                    if not args.no_wheels:
                        check_wheels(uv, Path(tmp) / name, arch)
                    cv = opencv_pins(read_pins(resolved))
                    pins = len(read_pins(resolved))
                    if args.check:
                        stale = not committed.exists() or committed.read_text() != resolved
                        if stale:
                            failures.append(f"{name}: committed lock is stale (run make lock)")
                        print(f"{'STALE' if stale else 'ok   '} {name}: {pins} pins, {cv}")
                    else:
                        LOCKS_DIR.mkdir(parents=True, exist_ok=True)
                        committed.write_text(resolved)
                        print(f"wrote {committed.relative_to(ROOT)}: {pins} pins, {cv}")
    except LockError as exc:
        failures.append(str(exc))
    for failure in failures:
        print(f"ERROR {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
