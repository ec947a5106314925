"""The wheel installs one top-level package, `facetrove`, and works without the source tree.

What is tried: the wheel built from this checkout (uv build), unpacked into an empty folder and
imported by a Python that sees only that folder and the venv's third-party packages (no editable
install, no repository on sys.path). What is kept: nothing (built in a temporary folder).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    uv = Path(sys.executable).with_name("uv")  # installed into .venv by the Makefile
    builder = [str(uv), "build", "--wheel"]
    subprocess.run([*builder, "--out-dir", str(out), str(ROOT)], check=True, capture_output=True)
    (found,) = out.glob("facetrove-*.whl")
    return found


def test_the_only_top_level_package_is_facetrove(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"facetrove"}, f"the wheel installs more than facetrove: {sorted(top)}"
    for part in ("agent", "collector", "wire", "models"):
        assert f"facetrove/{part}/__init__.py" in names, f"facetrove.{part} missing from the wheel"
    assert "facetrove/models/emotion_mini_xception.onnx" in names
    assert not [n for n in names if n.startswith("facetrove/tests/") or "/__pycache__/" in n]


def test_the_unpacked_wheel_imports_without_the_repository(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    third_party = sysconfig.get_paths()["purelib"]  # pydantic, numpy, ...; .pth files not applied
    code = (
        "import importlib.util, facetrove.wire, facetrove.models, facetrove.collector.store\n"
        "import facetrove.agent.cli, facetrove.collector.cli\n"
        "print(facetrove.wire.__file__)\n"
        "names = ('agent', 'collector', 'wire', 'models')\n"
        "print([n for n in names if importlib.util.find_spec(n)])\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={"PYTHONPATH": f"{tmp_path / 'site'}:{third_party}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    wire_file, leaked = done.stdout.splitlines()
    assert wire_file.startswith(str(tmp_path / "site" / "facetrove" / "wire"))
    assert leaked == "[]", f"generic top-level names importable from the wheel: {leaked}"
