"""Photos whose faces must be found: the agent's own pipeline, run as a subprocess.

The collector never imports agent code (and needs no MediaPipe); it runs ``facetrove agent run``
on a staging folder of the photos with every sampling limit lifted (an imported photo is never
dropped as a near-duplicate, rate-limited or thinned out) and reads the samples the agent put in
its outbox. The agent is pointed at a loopback port nobody listens on: it captures everything
into the outbox and stops with "undelivered", which here is the expected end.

The agent stamps a still image's capture time with the file's modification time; each staged
photo gets ``STAMP_BASE + n`` seconds, so every sample maps back to its photo ``n``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from facetrove.collector.importer.base import Item
from facetrove.collector.importer.rows import DEVICE_ID, SELECTION, Provenance
from facetrove.collector.importer.summary import ImportSummary
from facetrove.collector.importer.tree import TooLarge, Tree
from facetrove.collector.store.imports import known_import_keys
from facetrove.collector.store.samples import row_from_sample
from facetrove.wire import WireError, decode_sample

if TYPE_CHECKING:
    from facetrove.collector.importer.run import Importer

STAMP_BASE = 1_000_000_000
AGENT_TIMEOUT_S = 3600
#: every sampling and quality limit lifted: an import keeps each face the detector finds
IMPORT_SETTINGS = (
    "sampler.max_per_track=1000000",
    "sampler.best_of_s=0",
    "sampler.dedup_hamming=0",
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


def detect_faces(
    importer: Importer,
    tree: Tree,
    photos: Sequence[tuple[Item, str]],
    prov: Provenance,
    summary: ImportSummary,
) -> None:
    """Find the faces of ``photos`` with the agent and store one sample per face."""
    problem = None if importer.options.agent_command else agent_missing()
    if problem:
        for item, _ in photos:
            summary.skip(item.path, "needs-detection", problem)
        return
    work = importer.data_dir / "imports" / f"detect-{os.getpid()}-{prov.at[:19]}".replace(":", "")
    staging = work / "photos"
    try:
        staging.mkdir(parents=True)
        staged = _stage(tree, photos, staging, summary)
        if staged:
            payloads = _run_agent(importer, staging, work / "outbox.db", summary, staged)
            _store_detected(importer, payloads, staged, prov, summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            work.parent.rmdir()  # only when no other import is using it


def _stage(
    tree: Tree, photos: Sequence[tuple[Item, str]], staging: Path, summary: ImportSummary
) -> dict[int, tuple[Item, str]]:
    staged: dict[int, tuple[Item, str]] = {}
    for n, (item, sha) in enumerate(photos):
        target = staging / f"{n:07d}{Path(item.path).suffix.lower()}"
        disk = tree.disk_path(item.path)
        try:
            if disk is not None:
                shutil.copyfile(disk, target)
            else:
                target.write_bytes(tree.read(item.path))
        except (OSError, TooLarge) as exc:
            summary.skip(item.path, "unreadable", str(exc))
            continue
        os.utime(target, (STAMP_BASE + n, STAMP_BASE + n))
        staged[n] = (item, sha)
    return staged


def _run_agent(
    importer: Importer,
    staging: Path,
    outbox: Path,
    summary: ImportSummary,
    staged: dict[int, tuple[Item, str]],
) -> list[bytes]:
    argv = list(importer.options.agent_command or default_agent_command())
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
        for item, _ in staged.values():
            summary.skip(item.path, "detection-failed", f"cannot run the agent: {exc}")
        return []
    finally:
        port.close()
    # 3 = samples kept in the outbox (nobody to deliver to): the expected end here
    if proc.returncode not in (0, 3) or not outbox.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        for item, _ in staged.values():
            summary.skip(item.path, "detection-failed", f"agent exit {proc.returncode}: {tail[0]}")
        return []
    with sqlite3.connect(outbox) as conn:
        return [bytes(r[0]) for r in conn.execute("SELECT payload FROM outbox ORDER BY seq")]


def _store_detected(
    importer: Importer,
    payloads: list[bytes],
    staged: dict[int, tuple[Item, str]],
    prov: Provenance,
    summary: ImportSummary,
) -> None:
    found: dict[int, int] = {}
    rows = []
    for payload in payloads:
        try:
            sample = decode_sample(payload, max_bytes=len(payload) + 1, device_id=DEVICE_ID)
        except WireError:
            continue
        h = sample.header
        n = round(h.captured_at.timestamp()) - STAMP_BASE
        if n not in staged:
            continue
        item, sha = staged[n]
        found[n] = found.get(n, 0) + 1
        box = h.box
        key = f"{sha}:{box.xmin},{box.ymin},{box.xmax},{box.ymax}"
        label = importer.labels.get(item.labels[0]) if item.labels[0] else None
        row = row_from_sample(sample, prov.at)
        row.update(
            captured_at=prov.at, provided_label=label, selection=SELECTION, tag=prov.tag,
            import_key=key, source=f"import:{prov.source}/{item.path}"[:512],
        )  # fmt: skip
        blob = {h.crop.sha256: sample.crop}
        if sample.frame is not None and h.frame is not None:
            blob[h.frame.sha256] = sample.frame
        rows.append((row, blob))
    for n, (item, _) in staged.items():
        if n not in found:
            summary.skip(item.path, "no-face", "the detector found no face")
    kept = [r for r in rows if r[0]["import_key"] not in importer.seen_keys]
    summary.outcomes["duplicate"] += len(rows) - len(kept)
    importer.seen_keys.update(r[0]["import_key"] for r in kept)
    known = known_import_keys(importer.db, [r[0]["import_key"] for r in kept])
    summary.outcomes["already-imported"] += sum(1 for r in kept if r[0]["import_key"] in known)
    importer.store([r for r in kept if r[0]["import_key"] not in known], summary)
