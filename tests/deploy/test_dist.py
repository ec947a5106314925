"""`make dist` and the install routes of docs/install.md that start from a wheel or a git URL.

What is tried: the build `make dist` runs (sdist first, the wheel from the sdist), twine's
metadata check, deploy/check_dist.py on the real build and on a wheel that lost facetrove.agent
(what the sdist really produced before this test existed), `python -m facetrove.deploy` with
nothing but the bare wheel installed, and the documented uv routes run verbatim in a fresh venv:
facetrove --help, exactly one OpenCV, and an agent that delivers real faces to a real Mosquitto.
The pip + lock route is run verbatim by tests/deploy/test_raspberry_pi_guide.py (60 s of pip).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from facetrove import deploy
from tests.support.broker import Mosquitto
from tests.support.data import expression_file, face_file, require
from tests.support.doc_blocks import ROOT, block

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before 3.11
    import tomli as tomllib

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
WHEEL = f"facetrove-{VERSION}-py3-none-any.whl"
BIN = Path(sys.executable).parent


def _check_dist() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_dist", ROOT / "deploy" / "check_dist.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dist = _check_dist()


def _uv() -> str:
    uv = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
    if uv is None:
        require("uv", "make install puts uv into .venv/bin")
    return str(uv)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist, built the way `make dist` builds them."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [_uv(), "build", "--out-dir", str(out), str(ROOT)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _sandbox_env(home: Path) -> dict[str, str]:
    """HOME is a fresh folder (the docs install into ~/facetrove); caches stay the real ones."""
    env = dict(os.environ, HOME=str(home), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    real_home = Path.home()
    env.setdefault("UV_CACHE_DIR", str(real_home / ".cache" / "uv"))
    env.setdefault("PIP_CACHE_DIR", str(real_home / ".cache" / "pip"))
    env.pop("VIRTUAL_ENV", None)
    return env


def run_doc_block(doc: str, name: str, cwd: Path, env: dict[str, str]) -> str:
    """Run one `<!-- run: NAME -->` block of a doc with bash, as written; its stdout."""
    script = "set -euo pipefail\n" + block(doc, name)
    proc = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{doc} block {name} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_make_dist_builds_a_complete_wheel_and_sdist(dist: Path) -> None:
    assert check_dist.check(dist, VERSION) == []
    assert (dist / WHEEL).is_file(), sorted(p.name for p in dist.iterdir())
    names = zipfile.ZipFile(dist / WHEEL).namelist()
    assert {n.split("/")[0] for n in names} == {"facetrove", f"facetrove-{VERSION}.dist-info"}
    for module in (
        "agent/cli.py",
        "collector/__init__.py",
        "wire/topics.py",
        "deploy/__main__.py",
    ):
        assert f"facetrove/{module}" in names
    twine = BIN / "twine"
    if not twine.exists():
        require("twine", "the dev extra installs it (make install)")
    built = [str(p) for p in (*dist.glob("*.whl"), *dist.glob("*.tar.gz"))]
    proc = subprocess.run([str(twine), "check", "--strict", *built],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_dist_refuses_a_wheel_without_the_agent(dist: Path, tmp_path: Path) -> None:
    """The wheel the old sdist gave: no facetrove/agent, and a stray top-level package."""
    broken = tmp_path / WHEEL
    with zipfile.ZipFile(dist / WHEEL) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            if not item.filename.startswith("facetrove/agent/"):
                dst.writestr(item, src.read(item))
        dst.writestr("agent/__init__.py", "")
    problems = check_dist.wheel_problems(broken, check_dist.source_files())
    assert any("top-level names other than facetrove: ['agent']" in p for p in problems), problems
    assert any("source files missing: facetrove/agent/" in p for p in problems), problems
    assert check_dist.check(tmp_path, VERSION)  # one wheel, no sdist: refused too


def test_deploy_module_works_from_the_bare_wheel(dist: Path, tmp_path: Path) -> None:
    """After `pip install --no-deps` of the wheel alone (no click, no pydantic), the module
    prints the locks and overrides the next step needs, and refuses bad names in one line."""
    venv = tmp_path / "venv"
    subprocess.run([_uv(), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([_uv(), "pip", "install", "-q", "--python", py, "--no-deps", str(dist / WHEEL)],
                   check=True)  # fmt: skip

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([py, "-m", "facetrove.deploy", *args], capture_output=True, text=True)

    assert (
        run("lock", "agent", "--arch", "aarch64").stdout
        == (ROOT / "deploy" / "locks" / "agent-aarch64.txt").read_text()
    )
    assert run("overrides").stdout == (ROOT / "deploy" / "overrides.txt").read_text()
    listed = run("list").stdout.split()
    assert "systemd/facetrove-agent.service" in listed and "locks/dev-x86_64.txt" in listed
    assert "make_locks.py" not in listed and "check_dist.py" not in listed
    bad = run("show", "../pyproject.toml")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    bad = run("lock", "agent", "--arch", "armv7l")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    copied = tmp_path / "copy"
    assert run("copy", str(copied)).returncode == 0
    assert (copied / "locks" / "agent-x86_64.txt").read_text() == (
        ROOT / "deploy" / "locks" / "agent-x86_64.txt"
    ).read_text()
    again = run("copy", str(copied))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr


def test_lock_for_this_machine_and_unknown_architectures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "arm64")
    assert deploy.lock_path("agent").name == "agent-aarch64.txt"
    monkeypatch.setattr("platform.machine", lambda: "armv7l")
    with pytest.raises(deploy.DeployFileError, match="64-bit OS"):
        deploy.lock_path("agent")
    with pytest.raises(deploy.DeployFileError, match="unknown lock"):
        deploy.lock_path("training", "x86_64")


def _photos(folder: Path) -> Path:
    folder.mkdir()
    for src in (face_file("single_face.jpg"), expression_file("hao"), expression_file("su")):
        shutil.copy(src, folder / src.name)
    return folder


def _installed(venv: Path) -> dict[str, str]:
    proc = subprocess.run(
        [_uv(), "pip", "list", "--format", "json", "--python", str(venv / "bin" / "python")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {p["name"].lower(): p["version"] for p in json.loads(proc.stdout)}


def _agent_delivers(venv: Path, tmp_path: Path, broker: Mosquitto) -> tuple[dict[str, Any], int]:
    """Run the installed agent on three face photos; its summary and the samples a subscriber
    received and decoded."""
    import paho.mqtt.client as mqtt

    from facetrove.wire import Kind, decode_sample, topic

    received: list[str] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="wheel-test-sub")
    sub.on_message = lambda _c, _u, msg: received.append(
        decode_sample(msg.payload, device_id="wheel-test").header.sample_id
    )
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe(topic("wheel-test", Kind.SAMPLE), qos=1)
    sub.loop_start()
    try:
        proc = subprocess.run(
            [str(venv / "bin" / "facetrove"), "agent", "run", "--source",
             str(_photos(tmp_path / "in")), "--broker", broker.url, "--device-id", "wheel-test",
             "--outbox", str(tmp_path / "o.db"), "--summary-json",
             # no collector here to send receipts: the PUBACK confirms
             "--set", "receipts.enabled=false"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        deadline = time.monotonic() + 10
        while len(received) < summary["samples_sent"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.loop_stop()
        sub.disconnect()
    return summary, len(set(received))


def test_wheel_installs_by_the_documented_uv_route_and_delivers(
    dist: Path, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    work = tmp_path / "downloads"
    work.mkdir()
    shutil.copy(dist / WHEEL, work / WHEEL)  # the doc names this exact file
    out = run_doc_block("docs/install.md", "wheel-uv", work, _sandbox_env(tmp_path))
    assert out.strip().endswith(f"facetrove, version {VERSION}")
    venv = tmp_path / "facetrove"
    installed = _installed(venv)
    opencvs = {n for n in installed if n.startswith("opencv")}
    assert opencvs == {"opencv-python-headless"}, installed
    assert installed["opencv-python-headless"].startswith("4.")
    assert not {"flask", "albumentations", "torch"} & set(installed)
    help_text = subprocess.run([str(venv / "bin" / "facetrove"), "--help"],
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "agent" in help_text and "collector" in help_text
    summary, received = _agent_delivers(venv, tmp_path, mosquitto)
    assert summary["faces"] >= 3 and summary["samples_sent"] >= 1, summary
    assert received == summary["samples_sent"], (received, summary)


def test_git_url_route_builds_a_whole_wheel(tmp_path: Path) -> None:
    """The git route of docs/install.md, against a clone of this commit (file:// URL)."""
    if not (ROOT / ".git").exists():
        require("a git checkout", "the git URL route needs the repository, not an unpacked sdist")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    env = _sandbox_env(tmp_path)
    env["FACETROVE_GIT_URL"] = f"git+file://{ROOT}@{head}"
    out = run_doc_block("docs/install.md", "git-url", tmp_path, env)
    assert out.strip().endswith(f"facetrove, version {VERSION}")
    py = tmp_path / "facetrove" / "bin" / "python"
    probe = "import facetrove.agent.cli, facetrove.deploy as d; print(len(d.files()))"
    proc = subprocess.run([str(py), "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0 and int(proc.stdout) >= 10, proc.stderr


def test_other_pages_repeat_the_tested_install_commands_exactly() -> None:
    """README and docs/agent.md show install commands too: they must be the tested ones."""
    readme = (ROOT / "README.md").read_text()
    for line in block("docs/install.md", "wheel-uv").splitlines()[:-1]:
        assert line.strip() in readme, f"README's wheel route differs from install.md: {line}"
    agent_doc = (ROOT / "docs" / "agent.md").read_text()
    pip_lock = block("docs/install.md", "wheel-pip-lock").splitlines()[:-1]
    assert "\n".join(pip_lock) in agent_doc, "docs/agent.md's install differs from install.md's"
