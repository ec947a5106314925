"""`facetrove collector train`: train a pre-label model on a version and report it beside the
parent (or deployed) model."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console

from facetrove.collector import lifeline
from facetrove.collector.cli.common import config_option, data_dir_option, load

INSTALL_HINT = (
    "'facetrove collector train' needs the train extra (PyTorch, onnx, onnxruntime), which is"
    " not installed{missing}. CPU build: make install-train, or pip install torch --index-url"
    " https://download.pytorch.org/whl/cpu and then pip install 'facetrove[train]'; the GPU"
    " route is in docs/install.md."
)


class _RichProgress:
    """Epoch, loss, valid accuracy and ETA on one bar; one plain line per epoch (logs, pipes)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("valid acc {task.fields[acc]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.epochs = 0
        self.acc = "-"

    def start(self, epochs: int, batches: int) -> None:
        self.epochs = epochs
        self.bar.start()
        self.task = self.bar.add_task(
            "train", total=epochs * batches, epoch=f"1/{epochs}", loss="-", acc="-"
        )

    def batch(self, epoch: int, loss: float) -> None:
        self.bar.update(
            self.task, advance=1, epoch=f"{epoch}/{self.epochs}", loss=f"{loss:.3f}", acc=self.acc
        )

    def epoch(self, record: Any) -> None:
        acc = "-" if record.valid_acc is None else f"{record.valid_acc * 100:.1f}%"
        self.acc = acc
        self.bar.update(self.task, acc=acc)
        self.bar.console.print(
            f"epoch {record.epoch}/{self.epochs}: loss {record.loss:.4f}, valid acc {acc}"
            f"{' (best so far)' if record.best else ''}, {record.seconds:.1f} s"
        )

    def stop(self) -> None:
        self.bar.stop()


@click.command("train")
@click.argument("version_id")
@click.option("--name", required=True, help="Id of the new model (lower case, digits, . _ -).")
@click.option(
    "--init",
    default="bundled",
    show_default=True,
    help="Start from: bundled (the shipped mini-Xception), scratch (same network, random"
    " weights), a trained model id, or a path to an .onnx file.",
)
@click.option(
    "--epochs",
    type=click.IntRange(1, 1000),
    default=15,
    show_default=True,
    help="At most this many passes over the train split.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    help="Images per optimiser step.",
)
@click.option(
    "--lr",
    type=click.FloatRange(0, 1, min_open=True),
    default=5e-4,
    show_default=True,
    help="Adam learning rate.",
)
@click.option(
    "--freeze",
    type=click.IntRange(0, 100),
    default=0,
    show_default=True,
    help="Keep the first N stages fixed (the bundled network has 4 before its head).",
)
@click.option(
    "--l2sp",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="L2-SP strength: pull the weights towards the parent's (0 = off; it takes about 10 to"
    " matter, see docs/training.md).",
)
@click.option(
    "--distill",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Weight of distillation towards the parent's answers on the classes both know (0 = off).",
)
@click.option(
    "--weight-decay",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Adam weight decay.",
)
@click.option(
    "--patience",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="Stop after this many epochs without a better valid accuracy.",
)
@click.option(
    "--balance",
    type=click.Choice(["loss", "sampler", "none"]),
    default="loss",
    show_default=True,
    help="Class balance: weighted loss, balanced sampling, or none.",
)
@click.option("--no-augment", is_flag=True, help="Turn off the light on-the-fly augmentation.")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds head, order, sampling, augmentation (same seed: same weights on the CPU).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="auto uses a CUDA GPU when PyTorch sees one.",
)
@click.option("--threads", type=click.IntRange(1, 256), help="CPU threads (default: PyTorch's).")
@click.option(
    "--benchmark",
    "benchmarks",
    multiple=True,
    metavar="VERSION",
    help="Also report on this version (repeatable); samples seen in training are left out.",
)
@click.option(
    "--compare",
    metavar="MODEL",
    help="Report against this model instead of the deployed one (bundled, an id or a path).",
)
@config_option
@data_dir_option
def train_cmd(
    version_id: str,
    name: str,
    config_path: Path | None,
    data_dir: Path | None,
    no_augment: bool,
    benchmarks: tuple[str, ...],
    **options: Any,
) -> None:
    """Train an emotion model on a version; report it beside the deployed model; write ONNX +
    card.

    The model lands in DATA_DIR/models/NAME/ (model.onnx, card.json, card.md, report.json,
    confusion PNGs). Ctrl-C stops after the current batch and keeps the best epoch so far;
    a second Ctrl-C aborts without writing anything.

    Examples:

      facetrove collector train emotions-v1 --name emo-ft1

      facetrove collector train emotions-v2 --name emo-ft2 --init emo-ft1 --epochs 10
      --freeze 2 --benchmark wild-v1
    """
    from facetrove.collector import train as train_pkg

    missing = train_pkg.missing_modules()
    if missing:
        raise click.ClickException(INSTALL_HINT.format(missing=f" (no {', '.join(missing)})"))
    from facetrove.collector.train.data import DataError
    from facetrove.collector.train.folder import ModelFolderError
    from facetrove.collector.train.report import class_table, summary_table
    from facetrove.collector.train.run import TrainError, TrainSettings, train

    parent = lifeline.parent_from_env()
    if parent is not None:  # started by a collector (a web job): die with it
        lifeline.die_with_parent(parent)
    config = load(config_path, data_dir=data_dir)
    settings = TrainSettings(augment=not no_augment, benchmarks=benchmarks, **options)
    console = Console()
    stop = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print("[yellow]stopping after this batch; Ctrl-C again to abort[/]")

    def parent_check() -> None:
        if parent is not None and not lifeline.parent_alive(parent):
            raise TrainError(
                "the collector that started this training stopped: nothing was written"
            )

    _refuse_registered(config, name)
    previous = signal.signal(signal.SIGINT, on_sigint)
    progress = _RichProgress(console)
    try:
        trained = train(
            Path(config.data_dir), version_id, name, settings, progress=progress, stop=stop,
            before_commit=parent_check,
        )  # fmt: skip
    except (TrainError, DataError, ModelFolderError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.ClickException("aborted: nothing was written") from None
    finally:
        progress.stop()
        signal.signal(signal.SIGINT, previous)
    _register(config, trained.id)  # before any output: a closed pipe cannot come in between
    console.print(summary_table(trained.report))
    for evaluation in trained.report["evaluations"]:
        console.print(class_table(evaluation))
    fit = trained.fit
    how = {
        "completed": "all epochs ran",
        "early-stop": "stopped early (no better valid accuracy)",
        "interrupted": "stopped by Ctrl-C",
    }[fit.stopped]
    console.print(
        f"model {trained.id}: {how}; kept epoch {fit.best_epoch}; {fit.seconds:.1f} s,"
        f" {fit.images_per_s:.0f} images/s\nwrote {trained.path}"
    )
    console.print(
        f"registered {trained.id} as a candidate; roll it out with 'facetrove collector model"
        f" rollout {trained.id} --devices DEVICE' (canary) or '--all'"
    )


def _refuse_registered(config: Any, model_id: str) -> None:
    """A model id stays in the registry after its folder is deleted (rollback refers to it):
    refuse it before training rather than write a folder the registry does not match."""
    from facetrove.collector.store import DB_NAME, connect
    from facetrove.collector.store.models import UnknownModel, get

    path = Path(config.data_dir) / DB_NAME
    if not path.is_file():
        return
    db = connect(path)
    try:
        get(db, model_id)
    except UnknownModel:
        return
    finally:
        db.close()
    raise click.ClickException(
        f"model {model_id!r} is in the model registry already (its folder was removed):"
        " choose another --name"
    )


def _register(config: Any, model_id: str) -> None:
    """Add the new model to the store's registry as a candidate."""
    from facetrove.collector.rollout import register_folder
    from facetrove.collector.store import DB_NAME, StoreError, connect
    from facetrove.collector.store.models import ModelExists

    try:
        db = connect(Path(config.data_dir) / DB_NAME)
        try:
            register_folder(db, Path(config.data_dir), model_id)
        finally:
            db.close()
    except (StoreError, OSError, ModelExists) as exc:
        raise click.ClickException(
            f"model {model_id} was written but not registered: {exc}"
        ) from None


COMMANDS: list[click.Command] = [train_cmd]
