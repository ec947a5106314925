"""Benchmark the shipped models on one thread: emotion ONNX per face, detectors in frames/s.

    python bench/bench_models.py [--runs 1000] [--seconds 3]

Baselines measured in the same run: for the emotion model, the NumPy/OpenCV preprocessing of the
same face crop (grayscale, resize to 64x64, scale); for the detectors, short range vs full range
on the same 640x480 frame. The process is pinned to one CPU so figures compare across machines.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import cv2
import mediapipe as mp
import numpy as np
import onnxruntime as ort
from mediapipe.tasks.python import BaseOptions
from mediapipe.tasks.python.vision import FaceDetector, FaceDetectorOptions
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from facetrove import models
from tests.support.data import expression_file, face_file


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 50) -> float:
    """Median wall time of one call in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def frames_per_second(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second over about `seconds` of wall time, after a short warm-up."""
    for _ in range(20):
        fn()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        count += 1
    return count / elapsed


def read_bgr(file: Path) -> np.ndarray:
    """An image file as a BGR array; a clear error if OpenCV cannot read it."""
    image = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if image is None:
        raise click.ClickException(f"cannot read image {file}")
    return image


def preprocess(crop_bgr: np.ndarray) -> np.ndarray:
    """What the agent does to a face crop before the emotion model."""
    gray = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    size = models.EMOTION_INPUT_SIZE
    small = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) * models.EMOTION_SCALE + models.EMOTION_OFFSET)[None, None]


@click.command(help=__doc__)
@click.option("--runs", default=1000, show_default=True, help="Emotion model calls to time.")
@click.option("--seconds", default=3.0, show_default=True, help="Seconds per detector.")
def main(runs: int, seconds: float) -> None:
    """Print model sizes, per-face inference time and detector frames/s."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    console = Console()
    console.print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    sizes = Table("model", "bytes", "sha256 (first 16)")
    for name in (models.SHORT_RANGE, models.FULL_RANGE, models.EMOTION_ONNX):
        sizes.add_row(name, f"{models.path(name).stat().st_size:,}", models.SHA256[name][:16])
    console.print(sizes)

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(models.path(models.EMOTION_ONNX)), options, providers=["CPUExecutionProvider"]
    )
    face = read_bgr(expression_file("hao"))[174:475, 103:404]  # the detected face box
    single = preprocess(face)
    batch = np.repeat(single, 8, axis=0)
    pre_ms = median_ms(lambda: preprocess(face), runs)
    one_ms = median_ms(lambda: session.run(None, {"input": single}), runs)
    batch_ms = median_ms(lambda: session.run(None, {"input": batch}), max(runs // 8, 50)) / 8
    emotion = Table("emotion model (1 thread)", "median ms", "x preprocessing")
    emotion.add_row("preprocess 301x301 crop (baseline)", f"{pre_ms:.3f}", "1.0")
    emotion.add_row("ONNX, one face", f"{one_ms:.3f}", f"{one_ms / pre_ms:.1f}")
    emotion.add_row("ONNX, batch of 8, per face", f"{batch_ms:.3f}", f"{batch_ms / pre_ms:.1f}")
    console.print(emotion)

    frame = cv2.cvtColor(read_bgr(face_file("multi_face.jpg")), cv2.COLOR_BGR2RGB)
    frame = np.ascontiguousarray(cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA))
    detectors = Table("detector, 640x480 (1 CPU)", "faces", "frames/s", "ms/frame", "x short")
    short_fps = 0.0
    for label, name in (("short range", models.SHORT_RANGE), ("full range", models.FULL_RANGE)):
        opts = FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(models.path(name)))
        )
        with FaceDetector.create_from_options(opts) as det:

            def detect(det: FaceDetector = det) -> int:
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
                return len(det.detect(image).detections)

            fps = frames_per_second(detect, seconds)
            short_fps = short_fps or fps
            detectors.add_row(
                label, str(detect()), f"{fps:.0f}", f"{1000 / fps:.2f}", f"{fps / short_fps:.2f}"
            )
    console.print(detectors)
    console.print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
