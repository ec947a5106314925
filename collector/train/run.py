"""One training run, end to end: version -> network -> fit -> ONNX -> report -> model folder.

``train()`` is the Python API behind ``facetrove collector train``; it writes
``<data_dir>/models/<name>/`` (see folder.py) and returns what it wrote.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from facetrove import models as bundled_models
from facetrove.collector.train import folder, report
from facetrove.collector.train.data import DataError, Preprocess, VersionSet, open_version
from facetrove.collector.train.evaluate import Evaluation, ModelMismatch, OnnxModel, evaluate
from facetrove.collector.train.loop import FitResult, LoopSettings, Progress, fit, predict_logits
from facetrove.collector.train.network import NetworkError, OnnxNet, export_onnx, load_onnx

PREPROCESS_KEYS = (
    "input_size", "color", "preprocess_scale", "preprocess_offset", "preprocess",
    "input_layout", "output",
)  # fmt: skip


class TrainError(Exception):
    """A run that cannot start or finish; the message is meant for the user."""


@dataclass(frozen=True)
class TrainSettings(LoopSettings):
    """Everything ``facetrove collector train`` takes besides the version and the name."""

    init: str = "bundled"  # bundled | scratch | a model id | a path to an .onnx file
    device: str = "auto"  # auto | cpu | cuda
    benchmarks: tuple[str, ...] = ()
    compare: str | None = None  # model to report against (default: the deployed one)
    threads: int | None = None


@dataclass
class Source:
    """A model to start from or compare with."""

    id: str
    path: Path
    sha256: str
    proto: onnx.ModelProto

    @property
    def meta(self) -> dict[str, str]:
        return {p.key: p.value for p in self.proto.metadata_props}

    @property
    def classes(self) -> list[str]:
        return [c.strip() for c in self.meta.get("classes", "").split(",") if c.strip()]


@dataclass
class TrainedModel:
    """What ``train()`` wrote: the folder, its card and report, and the fit's history."""

    id: str
    path: Path
    card: dict[str, Any]
    report: dict[str, Any]
    fit: FitResult = field(repr=False)


def resolve_model(data_dir: Path, spec: str) -> Source:
    """``bundled``, a trained model id under data_dir/models, or a path to an .onnx file."""
    if spec == "bundled":
        path, model_id = bundled_models.path(bundled_models.EMOTION_ONNX), "bundled"
    elif (
        folder.is_model_id(spec)
        and (folder.models_root(data_dir) / spec / folder.ONNX_FILE).is_file()
    ):
        path, model_id = folder.models_root(data_dir) / spec / folder.ONNX_FILE, spec
    elif spec.endswith(".onnx") and Path(spec).is_file():
        path, model_id = Path(spec), Path(spec).stem
    else:
        known = ", ".join(m.id for m in folder.list_models(data_dir)) or "none yet"
        raise TrainError(
            f"no model {spec!r}: use bundled, scratch, a trained model id (known: {known}) or a"
            " path to an .onnx file"
        )
    try:
        proto = load_onnx(path.read_bytes())
    except NetworkError as exc:
        raise TrainError(f"model {spec} ({path}): {exc}") from None
    return Source(model_id, path, folder.file_sha256(path), proto)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError(
            "--device cuda: this PyTorch has no usable CUDA device (a CPU build, or no GPU);"
            " see docs/install.md for the GPU route, or use --device cpu"
        )
    return torch.device(name)


def train(
    data_dir: Path,
    version_id: str,
    name: str,
    settings: TrainSettings | None = None,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    on_step: Any = None,
    before_commit: Callable[[], None] | None = None,
) -> TrainedModel:
    """Train a model on a version and write ``<data_dir>/models/<name>/``.

    ``before_commit`` is called once everything is written in the hidden partial folder, just
    before it gets its final name: raising there (TrainError) leaves nothing behind.

    Raises:
        TrainError, DataError, folder.ModelFolderError: with a message meant for the user;
            nothing is left behind.
    """
    settings = settings or TrainSettings()
    data_dir = Path(data_dir)
    folder.check_name(name)
    if (folder.models_root(data_dir) / name).exists():
        raise folder.ModelFolderError(f"model {name!r} already exists: choose another --name")
    version = open_version(data_dir, version_id)
    tags = _store_tags(data_dir, version_id)
    start = resolve_model(data_dir, "bundled" if settings.init == "scratch" else settings.init)
    parent = None if settings.init == "scratch" else start
    baseline, baseline_reason = _baseline(data_dir, settings)
    benchmarks = [open_version(data_dir, b) for b in settings.benchmarks]
    for b in benchmarks:
        if b.id == version.id:
            raise TrainError(
                f"--benchmark {b.id} is the training version: its test split is reported anyway"
            )
    _check_reportable(version, benchmarks)
    device = pick_device(settings.device)
    prep = Preprocess.from_metadata(start.meta)
    try:
        net = OnnxNet(start.proto)  # refuse a graph the trainer cannot rebuild before any work
    except NetworkError as exc:
        raise TrainError(f"model {settings.init} ({start.path}): {exc}") from None
    base = _runnable(baseline)
    train_set = version.images("train", prep)
    valid_set = version.images("valid", prep, originals_only=True)
    if not len(train_set):
        raise DataError(f"version {version.id} has no training crops")
    if settings.freeze < 0:
        raise TrainError("--freeze must be 0 or more")

    threads_before = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    # CPU kernels are deterministic for a given thread count (the determinism test checks it);
    # torch.use_deterministic_algorithms would import the compiler stack (seconds) for nothing.
    if device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        g = torch.Generator().manual_seed(settings.seed)
        if settings.freeze >= net.stages:
            raise TrainError(
                f"--freeze {settings.freeze}: this network has {net.stages - 1} stages"
                " before its head"
            )
        if settings.init == "scratch":
            net.reset_parameters(g)
        kept = net.set_classes(start.classes, version.classes, g)
        teacher = OnnxNet(start.proto).eval() if parent is not None else None
        shared = [(version.classes.index(c), start.classes.index(c)) for c in kept]
        result = fit(
            net, train_set, valid_set, prep, settings, generator=g, parent=teacher,
            shared=shared, device=device, progress=progress, stop=stop, on_step=on_step,
        )  # fmt: skip
        net.cpu()
        meta = _metadata(name, version.id, version.classes, start, parent, settings, result)
        onnx_bytes = export_onnx(net, start.proto, meta)
        test_set = version.images("test", prep, originals_only=True)
        torch_probs = torch.softmax(predict_logits(net, test_set, prep, torch.device("cpu")), 1)
    finally:
        torch.set_num_threads(threads_before)

    with folder.PartialFolder(data_dir, name) as partial:
        (partial.path / folder.ONNX_FILE).write_bytes(onnx_bytes)
        new = OnnxModel.load(name, onnx_bytes)
        onnx_probs = new.probabilities(test_set.pixels.numpy())
        max_diff = float(np.abs(onnx_probs - torch_probs.numpy()).max()) if len(test_set) else 0.0
        seen = version.sample_ids(("train", "valid"))
        evaluations = [Evaluation(f"{version.id} test", version, ("test",))]
        evaluations += [
            Evaluation(f"{b.id} benchmark", b, ("train", "valid", "test"), frozenset(seen))
            for b in benchmarks
        ]
        results = [evaluate(e, new, base, partial.path) for e in evaluations]
        rep = report.make_report(name, baseline.id, results, result, max_diff, baseline_reason)
        card = report.make_card(
            name, version, start, parent, baseline, settings, result, rep, onnx_bytes, kept, tags,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )  # fmt: skip
        (partial.path / folder.REPORT_JSON).write_text(json.dumps(rep, indent=2) + "\n")
        (partial.path / folder.CARD_JSON).write_text(json.dumps(card, indent=2) + "\n")
        (partial.path / folder.CARD_MD).write_text(
            report.card_markdown(card, rep), encoding="utf-8"
        )
        if before_commit is not None:
            before_commit()
        final = partial.commit()
    return TrainedModel(name, final, card, rep, result)


def _check_reportable(version: VersionSet, benchmarks: list[VersionSet]) -> None:
    """DataError for a version whose model could not be judged: training faces of one class
    (the model answers it for every face, and scores 100 % on a test split of that class), or
    no test faces and no benchmark (the report would be empty)."""
    taught = sorted({r["labels"][0] for r in version.rows if r["split"] == "train"})
    if len(taught) == 1:  # none at all: "no training crops" below
        raise DataError(
            f"version {version.id} has training faces of one class only ({', '.join(taught)}):"
            " a classifier needs at least two; build a version with more classes"
        )
    if not version.sample_ids(("test",)) and not benchmarks:
        raise DataError(
            f"version {version.id} has no test faces, so the report (the new model beside the"
            " deployed one) would be empty: build a version whose split has a test share"
            " (split: {test: 0.1}), or name a version of other faces with --benchmark"
        )


def _baseline(data_dir: Path, settings: TrainSettings) -> tuple[Source, str]:
    """The model the report sets the new one against, and why that one: ``--compare``, else the
    model deployed to every device (the model registry's), else the bundled model."""
    if settings.compare:
        return resolve_model(data_dir, settings.compare), f"named with --compare {settings.compare}"
    deployed = _deployed(data_dir)
    if deployed is None:
        return resolve_model(data_dir, "bundled"), (
            "the bundled model: no model is deployed to every device yet"
        )
    try:
        source = resolve_model(data_dir, deployed)
    except TrainError:
        raise TrainError(
            f"the deployed model {deployed} has no file under {folder.models_root(data_dir)}"
            " (the report compares with it): restore its folder, or name another model with"
            " --compare (bundled, a model id or an .onnx file)"
        ) from None
    return source, "deployed to every device (the model registry's deployed model)"


def _deployed(data_dir: Path) -> str | None:
    """The model the registry has deployed to every device; None if none was rolled out to all
    (or there is no store here)."""
    from facetrove.collector.store import models as registry
    from facetrove.collector.store.db import DB_NAME, connect

    if not (data_dir / DB_NAME).is_file():
        return None
    db = connect(data_dir / DB_NAME, migrate_schema=False)
    try:
        return registry.rolled_out_to_all(db)
    finally:
        db.close()


def _runnable(model: Source) -> OnnxModel:
    """The model to compare with, loaded and tried on one face before any training."""
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    try:
        loaded = OnnxModel.load(model.id, model.path)
        loaded.check()
    except (ModelMismatch, DataError, ort_errors.Fail, ort_errors.InvalidGraph) as exc:
        raise TrainError(f"model {model.id} ({model.path}) cannot be compared: {exc}") from None
    return loaded


def _store_tags(data_dir: Path, version_id: str) -> dict[str, int]:
    """Import tags (dataset names, licence notes) of the version's samples, if the store is here."""
    from facetrove.collector.store.db import DB_NAME, connect
    from facetrove.collector.store.versions import version_tags

    if not (data_dir / DB_NAME).is_file():
        return {}
    db = connect(data_dir / DB_NAME, migrate_schema=False)
    try:
        return version_tags(db, version_id)
    finally:
        db.close()


def _metadata(
    name: str,
    version_id: str,
    classes: list[str],
    start: Source,
    parent: Source | None,
    settings: TrainSettings,
    result: FitResult,
) -> dict[str, str]:
    meta = {k: v for k, v in start.meta.items() if k in PREPROCESS_KEYS}
    meta.update(
        classes=",".join(classes),
        model_id=name,
        parent=parent.id if parent else "none",
        parent_sha256=parent.sha256 if parent else "",
        version=version_id,
        training_data=f"facetrove version {version_id}"
        + (
            f" (fine-tuned from {parent.id}: {parent.meta.get('training_data', '?')})"
            if parent
            else ""
        ),
        license=(
            "trained by facetrove on the reviewed faces of version "
            f"{version_id}; see its card for their terms"
            + (f"; parent weights: {parent.meta.get('license', '?')}" if parent else "")
        ),
        training=json.dumps(
            {k: v for k, v in asdict(settings).items() if k not in ("benchmarks", "compare")}
            | {"best_epoch": result.best_epoch, "stopped": result.stopped},
            sort_keys=True,
        ),
    )
    return meta
