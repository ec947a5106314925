"""Packaging rules: one OpenCV 4.x everywhere, lean extras, and --help on every command.

What is tried: the installed venv, the committed lock files in deploy/locks/, the extras declared
in pyproject.toml, a fresh resolution without our overrides (to prove the OpenCV trap is real and
caught), and the whole click command tree. What is kept: nothing is installed or changed.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest
from click.testing import CliRunner

from facetrove import __version__
from facetrove.cli import cli
from tests.support.data import require

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "deploy" / "locks"


def _make_locks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_locks", ROOT / "deploy" / "make_locks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_locks = _make_locks()


# (a) the installed environment


def _cv2_providers() -> dict[str, str]:
    """Installed distributions that write into cv2/ or are named opencv*."""
    found = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        files = dist.files or []
        if name.lower().startswith("opencv") or any(str(f).startswith("cv2/") for f in files):
            found[name] = dist.version
    return found


def test_exactly_one_opencv_distribution_is_installed() -> None:
    providers = _cv2_providers()
    assert len(providers) == 1, f"more than one distribution writes cv2/: {providers}"
    ((name, version),) = providers.items()
    assert name == "opencv-python-headless", providers
    assert version.startswith("4."), f"OpenCV must stay on 4.x (5.x lacks Haar), got {version}"


PROBE = r"""
import json, os, sys
import cv2
import mediapipe
import albumentations
import numpy as np
from mediapipe.tasks.python import vision

faces = sys.argv[1]
out = {"cv2": cv2.__version__, "cv2_file": cv2.__file__}
out["has"] = {n: hasattr(cv2, n) for n in
    ("CascadeClassifier", "imencode", "imdecode", "Laplacian", "resize", "VideoCapture")}
haar = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
out["haar_exists"] = os.path.exists(haar)
cascade = cv2.CascadeClassifier(haar)
out["haar_loaded"] = not cascade.empty()
img = cv2.imread(os.path.join(faces, "single_face.jpg"))
grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
out["haar_faces"] = len(cascade.detectMultiScale(grey, 1.1, 5, minSize=(40, 40)))
ok, buf = cv2.imencode(".jpg", cv2.resize(img, (160, 160)))
back = cv2.imdecode(buf, cv2.IMREAD_COLOR)
out["jpeg_round_trip"] = bool(ok) and back.shape == (160, 160, 3)
out["laplacian_var"] = float(cv2.Laplacian(grey, cv2.CV_64F).var())
cap = cv2.VideoCapture(os.path.join(faces, "single_face.mp4"))
ok, frame = cap.read()
cap.release()
out["video_frame"] = list(frame.shape) if ok else None
out["mp_face_detector"] = hasattr(vision, "FaceDetector")
aug = albumentations.HorizontalFlip(p=1.0)(image=img)["image"]
out["album_flip"] = bool((aug[:, ::-1] == img).all())
print(json.dumps(out))
"""


def test_cv2_mediapipe_albumentations_work_together(faces_dir: Path) -> None:
    """In a fresh process: all three import, and cv2 has everything the agent and collector use."""
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(faces_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["cv2"].startswith("4."), got
    assert all(got["has"].values()), got["has"]
    assert got["haar_exists"] and got["haar_loaded"], got
    assert got["haar_faces"] >= 1, "the Haar cascade finds no face in single_face.jpg"
    assert got["jpeg_round_trip"] and got["laplacian_var"] > 0
    assert got["video_frame"] and got["video_frame"][2] == 3, "VideoCapture cannot read an mp4"
    assert got["mp_face_detector"] and got["album_flip"]
    owner = md.distribution("opencv-python-headless")
    cv2_files = {str(owner.locate_file(f)) for f in owner.files or []}
    assert got["cv2_file"] in cv2_files, "cv2 is not the one opencv-python-headless installed"


# (b) the committed lock files

LOCK_FILES = [
    f"{flavour}-{arch}.txt" for flavour in make_locks.FLAVOURS for arch in make_locks.ARCHES
]


@pytest.mark.parametrize("name", LOCK_FILES)
def test_lock_file_has_one_opencv_and_no_forbidden_packages(name: str) -> None:
    path = LOCKS / name
    assert path.exists(), f"{path} missing: run `make lock`"
    pins = make_locks.read_pins(path.read_text())
    cv = make_locks.opencv_pins(pins)
    assert list(cv) == ["opencv-python-headless"], cv
    assert cv["opencv-python-headless"].startswith("4.")
    assert "torch" not in pins, "torch belongs to the train extra, never to a lock"
    if name.startswith("agent-"):
        assert not {"flask", "albumentations", "torch"} & set(pins), name
        assert {"mediapipe", "onnxruntime", "paho-mqtt"} <= set(pins)
    if name.startswith("collector-"):
        assert "mediapipe" not in pins, name
        assert {"flask", "albumentations", "sqlite-utils"} <= set(pins)
    assert make_locks.check_lock(name.split("-")[0], path.read_text()) == []


def test_locks_for_both_architectures_pin_the_same_opencv() -> None:
    versions = {
        name: make_locks.opencv_pins(make_locks.read_pins((LOCKS / name).read_text()))
        for name in LOCK_FILES
    }
    assert len({json.dumps(v) for v in versions.values()}) == 1, versions


LOCK = "# via x\n{}\nnumpy==2.0.0\n"


@pytest.mark.parametrize(
    ("flavour", "lines", "problem"),
    [
        ("agent", "opencv-python-headless==4.14.0.94\nmediapipe==1.2.3", None),
        ("collector", "opencv-python-headless==4.14.0.94", None),
        (
            "all",
            "opencv-contrib-python==5.1.0.95\nopencv-python-headless==4.14.0.94\nmediapipe==1.2.3",
            "expected exactly one OpenCV",
        ),
        ("agent", "opencv-python==4.10.0.84\nmediapipe==1.2.3", "expected exactly one OpenCV"),
        ("agent", "mediapipe==1.2.3", "found none"),
        ("agent", "opencv-python-headless==5.0.0\nmediapipe==1.2.3", "OpenCV must be 4.x"),
        ("agent", "opencv_python_headless==4.9.0.80\nmediapipe==1.2.3\nFlask==3.1.0", "flask"),
        ("agent", "opencv-python-headless==4.9.0.80\nmediapipe==1.2.3\ntorch==2.5.0", "torch"),
        ("collector", "opencv-python-headless==4.9.0.80\nMediaPipe==1.2.3", "mediapipe"),
        ("agent", "opencv-python-headless==4.9.0.80", "mediapipe is missing"),
    ],
)
def test_check_lock_rules(flavour: str, lines: str, problem: str | None) -> None:
    problems = make_locks.check_lock(flavour, LOCK.format(lines))
    if problem is None:
        assert problems == []
    else:
        assert problems and any(problem in p for p in problems), problems


def test_resolution_without_overrides_shows_the_trap_and_is_refused(tmp_path: Path) -> None:
    """Without deploy/overrides.txt, uv pulls mediapipe's opencv-contrib-python next to the
    headless build: make_locks' check must refuse that lock."""
    uv = make_locks.find_uv()
    out = tmp_path / "all-aarch64.txt"
    cmd = [uv, "pip", "compile", "pyproject.toml", "--quiet", "--extra", "all"]
    cmd += ["--python-version", "3.11", "--python-platform", "aarch64-unknown-linux-gnu"]
    proc = subprocess.run([*cmd, "-o", str(out)], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        require("package index", f"uv could not resolve: {proc.stderr.strip()[-300:]}")
    problems = make_locks.check_lock("all", out.read_text())
    assert any("expected exactly one OpenCV" in p for p in problems), problems
    assert len(make_locks.opencv_pins(make_locks.read_pins(out.read_text()))) >= 2


# (c) the declared extras


def _extras() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras: dict[str, list[str]] = data["project"]["optional-dependencies"]
    return extras


def _names(reqs: list[str]) -> set[str]:
    import re

    return {make_locks.normalise(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in reqs}


@pytest.mark.parametrize(
    ("extra", "forbidden"),
    [
        ("agent", {"flask", "albumentations", "torch", "flask-login", "flask-wtf"}),
        ("collector", {"mediapipe", "torch"}),
    ],
)
def test_declared_extras_stay_lean(extra: str, forbidden: set[str]) -> None:
    names = _names(_extras()[extra])
    assert not names & forbidden, f"the {extra} extra declares {names & forbidden}"


def test_extras_exist_and_all_leaves_out_train() -> None:
    extras = _extras()
    assert {"agent", "collector", "train", "dev", "all"} <= set(extras)
    assert extras["all"] == ["facetrove[agent,collector]"]
    assert "torch" in _names(extras["train"])
    for name in ("agent", "collector"):
        assert "opencv-python-headless" in _names(extras[name])


# (d) the command line


def test_help_and_version() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for group in ("agent", "collector", "demo"):
        assert group in result.output
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"facetrove, version {__version__}"
    assert __version__ == md.version("facetrove")


def _walk(cmd: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, cmd)]
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=path[-1])
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name} but cannot load it"
            found += _walk(sub, (*path, name))
    return found


COMMANDS = _walk(cli, ("facetrove",))


def test_command_tree_is_complete() -> None:
    """The lazy groups load in the full environment (no "not installed" placeholder)."""
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"facetrove agent", "facetrove collector", "facetrove demo"} <= names
    placeholders = [" ".join(p) for p, c in COMMANDS if "(not installed" in (c.help or "")]
    assert not placeholders, f"groups failed to import: {placeholders}"
    assert len(COMMANDS) > 5


@pytest.mark.parametrize(
    ("path", "cmd"), COMMANDS, ids=[" ".join(p[1:]) or "facetrove" for p, _ in COMMANDS]
)
def test_every_command_has_help(path: tuple[str, ...], cmd: click.Command) -> None:
    text = (cmd.help or cmd.short_help or "").strip()
    assert text, f"`{' '.join(path)}` has no help text"
    result = CliRunner().invoke(cli, [*path[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert text.split("\n")[0][:40] in " ".join(result.output.split())
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"`{' '.join(path)}` option {param.opts[0]} has no help text"
