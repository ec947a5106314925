"""Check what ``make dist`` built before anyone installs it (run: make dist).

A wheel built through the sdist once lost facetrove/agent and facetrove/collector without any
error (hatch walks each real folder once, and the symlinked layout made it skip those), so the
build is checked against the source tree instead of trusted:

- exactly one wheel and one sdist, of the version in pyproject.toml;
- the wheel installs one top-level name, ``facetrove`` (plus its .dist-info);
- every module of the source tree's ``facetrove`` package (symlinked folders included) is in the
  wheel, and so are the models and the deployment files ``python -m facetrove.deploy`` serves;
- the sdist holds the same ``facetrove/`` files, so a wheel built from it is complete too.

Usage::

    python deploy/check_dist.py dist/
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Files of the source tree that the wheel deliberately leaves out (tools of the repository).
NOT_IN_WHEEL = {"facetrove/deploy/make_locks.py", "facetrove/deploy/check_dist.py"}


def source_files(root: Path = ROOT) -> set[str]:
    """Files under the clone's facetrove/ (following the symlinked folders), as wheel paths."""
    found = set()
    # os.walk, not Path.rglob: rglob does not enter symlinked folders (facetrove/agent, ...).
    for folder, dirs, names in os.walk(root / "facetrove", followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            if not name.endswith(".pyc"):
                found.add((Path(folder) / name).relative_to(root).as_posix())
    return found - NOT_IN_WHEEL


def wheel_problems(wheel: Path, expected: set[str]) -> list[str]:
    """What is wrong with a wheel's contents (empty when it is complete)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    problems = []
    tops = {n.split("/", 1)[0] for n in names}
    extra = sorted(t for t in tops if t != "facetrove" and not t.endswith(".dist-info"))
    if extra:
        problems.append(f"{wheel.name}: top-level names other than facetrove: {extra}")
    missing = sorted(expected - names)
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        problems.append(f"{wheel.name}: {len(missing)} source files missing: {shown}")
    for needed in ("facetrove/deploy/overrides.txt", "facetrove/deploy/locks/agent-aarch64.txt"):
        if needed not in names:
            problems.append(f"{wheel.name}: {needed} missing")
    return problems


def sdist_problems(sdist: Path, expected: set[str]) -> list[str]:
    """What is wrong with an sdist's facetrove/ folder (empty when a wheel from it is whole)."""
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
    prefix = sdist.name.removesuffix(".tar.gz") + "/"
    names = {m.name.removeprefix(prefix) for m in members if m.isfile()}
    links = sorted(m.name for m in members if m.issym() or m.islnk())
    problems = []
    if links:
        problems.append(f"{sdist.name}: holds links, which not every unpacker keeps: {links[:4]}")
    missing = sorted(expected - names)
    if missing:
        problems.append(f"{sdist.name}: {len(missing)} facetrove/ files missing: {missing[:8]}")
    return problems


def check(dist: Path, version: str) -> list[str]:
    """Every problem of the built distributions in ``dist``."""
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        found = [p.name for p in (*wheels, *sdists)]
        return [f"{dist}: expected one wheel and one sdist, found {found}"]
    problems = []
    if not wheels[0].name.startswith(f"facetrove-{version}-py3-none-any"):
        problems.append(f"{wheels[0].name}: not facetrove {version} for any platform")
    expected = source_files()
    problems += wheel_problems(wheels[0], expected)
    problems += sdist_problems(sdists[0], expected)
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print each problem as ``ERROR ...``; exit 1 if there is any."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dist", type=Path, help="folder with the wheel and the sdist")
    args = parser.parse_args(argv)
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    problems = check(args.dist, version)
    for problem in problems:
        print(f"ERROR {problem}", file=sys.stderr)
    if not problems:
        print(f"{args.dist}: wheel and sdist of facetrove {version} are complete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
