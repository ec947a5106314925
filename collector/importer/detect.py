"""Photos whose faces must be found: the agent's own pipeline, run as a subprocess.

The collector never imports agent code (and needs no MediaPipe); it runs ``facetrove agent run``
on a staging folder of the photos with every sampling limit lifted (an imported photo is never
dropped as a near-duplicate, rate-limited or thinned out) and reads the samples the agent put in
its outbox. The agent is pointed at a loopback port nobody listens on: it captures everything
into the outbox and stops with "undelivered", which here is the expected end.

The agent stamps a still image's capture time with the file's modification time; each staged
photo gets STAMP_BASE + n seconds, so every sample maps back to its photo n.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from facetrove.collector.importer.rows import DEVICE_ID
from facetrove.collector.importer.tree import EntryError, Tree
from facetrove.collector.store.outbox import outbox_payloads
from facetrove.wire import Sample, WireError, decode_sample

STAMP_BASE = 1_000_000_000
#: a single face covering this fraction of an image makes the image a crop (--faces auto)
FILLS = 0.4
AGENT_TIMEOUT_S = 3600
#: every sampling and quality limit lifted: an import keeps each face the detector finds
IMPORT_SETTINGS = (
    "sampler.max_per_track=1000000",
    "sampler.best_of_s=0",
    "sampler.dedup_hamming=-1",
    "sampler.per_minute=1000000000",
    "sampler.per_hour=1000000000",
    "sampler.per_day=1000000000",
    "sampler.traffic_percent=100",
    "sampler.prefer_uncertain=false",
    "quality.min_blur=0",
    "quality.min_brightness=0",
    "quality.max_brightness=255",
    "quality.min_face_px=16",
    "quality.max_abs_yaw=180",
    "crop.send_frame=true",
    "source.label_from_folder=false",
    "outbox.max_rows=10000000",
    "outbox.max_bytes=100000000000",
    "broker.connect_timeout_s=0.5",
    "run.drain_timeout_s=5",
)
INSTALL_HINT = "pip install 'facetrove[agent]'"


def default_agent_command() -> list[str]:
    """The argv prefix that runs ``facetrove agent`` with this Python."""
    script = Path(sys.executable).with_name("facetrove")
    if script.exists():
        return [str(script), "agent"]
    found = shutil.which("facetrove")
    if found:
        return [found, "agent"]
    return [sys.executable, "-c", "from facetrove.cli import main; main()", "agent"]


def agent_missing() -> str | None:
    """Why the agent cannot run here, or None."""
    if importlib.util.find_spec("mediapipe") is None:
        return f"photos need face detection, which needs the agent extra ({INSTALL_HINT})"
    return None


def _closed_port() -> socket.socket:
    """A bound, non-listening loopback socket: connecting to its port is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Detection:
    """What the agent made of the staged photos: samples per photo, and photos it could not do."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)  # photo path -> samples
    failed: dict[str, str] = field(default_factory=dict)  # photo path -> why
    no_agent: bool = False  # the agent is not installed here


def detect_faces(
    data_dir: Path, agent_command: Sequence[str] | None, tree: Tree, photos: Sequence[str]
) -> Detection:
    """Run the agent over ``photos`` (tree paths) and return the samples it made of each."""
    result = Detection()
    problem = None if agent_command else agent_missing()
    if problem:
        result.failed, result.no_agent = dict.fromkeys(photos, problem), True
        return result
    work = data_dir / "imports" / f"detect-{os.getpid()}-{secrets.token_hex(4)}"
    staging = work / "photos"
    try:
        staging.mkdir(parents=True)
        staged = _stage(tree, photos, staging, result)
        if staged:
            argv = list(agent_command or default_agent_command())
            for payload in _run_agent(argv, staging, work / "outbox.db", result, staged):
                try:
                    sample = decode_sample(payload, max_bytes=len(payload) + 1)
                except WireError:
                    continue
                n = round(sample.header.captured_at.timestamp()) - STAMP_BASE
                if n in staged:
                    result.samples[staged[n]].append(sample)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            work.parent.rmdir()  # only when no other import is using it
    return result


def _stage(tree: Tree, photos: Sequence[str], staging: Path, result: Detection) -> dict[int, str]:
    staged: dict[int, str] = {}
    for n, path in enumerate(photos):
        target = staging / f"{n:07d}{Path(path).suffix.lower()}"
        disk = tree.disk_path(path)
        try:
            if disk is not None:
                shutil.copyfile(disk, target)
            else:
                target.write_bytes(tree.read(path))
        except (OSError, EntryError) as exc:
            result.failed[path] = str(exc)
            continue
        os.utime(target, (STAMP_BASE + n, STAMP_BASE + n))
        staged[n] = path
        result.samples[path] = []
    return staged


def _run_agent(
    argv: list[str], staging: Path, outbox: Path, result: Detection, staged: dict[int, str]
) -> list[bytes]:
    port = _closed_port()
    try:
        argv += [
            "run", "--source", str(staging), "--device-id", DEVICE_ID, "--outbox", str(outbox),
            "--broker", f"mqtt://import:import@127.0.0.1:{port.getsockname()[1]}",
            "--exit-when-drained", "--log-level", "WARNING",
        ]  # fmt: skip
        for setting in IMPORT_SETTINGS:
            argv += ["--set", setting]
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=AGENT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        for path in staged.values():
            result.failed[path] = f"cannot run the agent: {exc}"
        return []
    finally:
        port.close()
    # 3 = samples kept in the outbox (nobody to deliver to): the expected end here
    if proc.returncode not in (0, 3) or not outbox.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        for path in staged.values():
            result.failed[path] = f"agent exit {proc.returncode}: {tail[0][-200:]}"
        return []
    return outbox_payloads(outbox)


def fills_image(samples: list[Sample], width: int, height: int) -> bool:
    """One face covering at least FILLS of the image: the image is already a crop."""
    if len(samples) != 1:
        return False
    b = samples[0].header.box
    return (b.xmax - b.xmin) * (b.ymax - b.ymin) >= FILLS * width * height
