"""MediaPipe without its system libraries: a real agent where libEGL.so.1 is hidden.

What is tried: `facetrove agent run` in its own mount namespace (unshare -m) where an empty file
is bind-mounted over the real libEGL.so.1 (or libGLESv2.so.2), as on a Debian or Raspberry Pi OS
without the libegl1 / libgles2 packages. With the default `detector.fallback_to_haar: true` it
must warn once, naming the missing library and the Debian package, and deliver faces found by
the Haar detector to a real Mosquitto; with the fallback off it must exit 1 with that message
in one line. The rest of the machine keeps its libraries (the namespace dies with the process).
"""

from __future__ import annotations

import ctypes.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from facetrove.agent.capture.native_libs import SYSTEM_LIBRARIES
from tests.support.broker import Mosquitto
from tests.support.data import expression_file, face_file, require

FACETROVE = str(Path(sys.executable).parent / "facetrove")


def _real_path(soname: str) -> Path:
    """The file the dynamic loader opens for ``soname`` (symlinks resolved)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith(soname + " ") and "=>" in line:
            return Path(line.split("=>")[1].strip()).resolve()
    require(
        soname,
        f"not installed here, so there is nothing to hide ({ctypes.util.find_library('EGL')})",
    )
    raise AssertionError  # unreachable: require skips or fails


def _agent_without(
    soname: str, tmp_path: Path, broker: Mosquitto, *extra: str
) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        require("root and unshare", "hiding a library needs a private mount namespace")
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    photos = tmp_path / "photos"
    photos.mkdir()
    for src in (face_file("single_face.jpg"), expression_file("hao")):
        shutil.copy(src, photos / src.name)
    agent = [
        FACETROVE,
        "agent",
        "run",
        "--source",
        str(photos),
        "--broker",
        broker.url,
        "--device-id",
        "no-egl",
        "--outbox",
        str(tmp_path / "o.db"),
        "--summary-json",
        "--set",
        "receipts.enabled=false",
        *extra,
    ]  # fmt: skip  (no collector: no receipts)
    script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(empty),
         str(_real_path(soname)), *agent],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_agent_falls_back_to_haar_and_names_the_package(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    soname = "libEGL.so.1"
    proc = _agent_without(soname, tmp_path, mosquitto)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["faces"] >= 2 and summary["samples_sent"] >= 1, summary
    warnings = [line for line in proc.stderr.splitlines() if "falling back" in line]
    assert len(warnings) == 1, proc.stderr[-3000:]
    assert soname in warnings[0] and SYSTEM_LIBRARIES[soname] in warnings[0], warnings[0]
    assert "apt-get install" in warnings[0], warnings[0]


def test_without_the_fallback_the_agent_stops_with_the_package_name(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The other library MediaPipe links, and the fallback turned off."""
    off = ("--set", "detector.fallback_to_haar=false")
    proc = _agent_without("libGLESv2.so.2", tmp_path, mosquitto, *off)
    assert proc.returncode == 1, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "libGLESv2.so.2" in errors[0] and "libgles2" in errors[0], errors[0]
