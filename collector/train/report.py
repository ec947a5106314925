"""The report (new model beside the deployed one, or the one named with --compare) and the
model card, as JSON, markdown and rich tables."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from facetrove.collector.train.data import VersionSet
    from facetrove.collector.train.loop import FitResult
    from facetrove.collector.train.run import Source, TrainSettings


def make_report(
    model_id: str,
    baseline_id: str,
    evaluations: list[dict[str, Any]],
    fit: FitResult,
    onnx_vs_torch: float,
    baseline_reason: str = "",
) -> dict[str, Any]:
    return {
        "model": model_id,
        "baseline": baseline_id,
        "baseline_reason": baseline_reason,
        "evaluations": evaluations,
        "onnx_vs_torch_max_abs_diff": onnx_vs_torch,
        "training": _training(fit),
    }


def _training(fit: FitResult) -> dict[str, Any]:
    return {
        "stopped": fit.stopped,
        "best_epoch": fit.best_epoch,
        "epochs_run": max(r.epoch for r in fit.history),
        "seconds": round(fit.seconds, 2),
        "images_per_s": round(fit.images_per_s, 1),
        "history": [{k: _number(v) for k, v in asdict(r).items()} for r in fit.history],
    }


def _number(value: Any) -> Any:
    """Floats rounded; infinite or NaN (epoch 0 has no training loss) as null: strict JSON."""
    if not isinstance(value, float):
        return value
    return round(value, 5) if math.isfinite(value) else None


def make_card(
    model_id: str,
    version: VersionSet,
    start: Source,
    parent: Source | None,
    baseline: Source,
    settings: TrainSettings,
    fit: FitResult,
    rep: dict[str, Any],
    onnx_bytes: bytes,
    kept_classes: list[str],
    tags: dict[str, int],
    created_at: str,
) -> dict[str, Any]:
    import torch

    from facetrove import __version__

    vcard = version.card
    return {
        "model_id": model_id,
        "created_at": created_at,
        "onnx": {"sha256": hashlib.sha256(onnx_bytes).hexdigest(), "bytes": len(onnx_bytes)},
        "classes": version.classes,
        "classes_kept_from_parent": kept_classes,
        "parent": _parent(start, parent),
        "compared_with": {
            "id": baseline.id,
            "sha256": baseline.sha256,
            "reason": rep.get("baseline_reason", ""),
        },
        "version": {
            "id": version.id,
            "samples": vcard.get("samples"),
            "counts": vcard.get("counts"),
            "devices": vcard.get("devices"),
            "date_range": vcard.get("date_range"),
            "tags": tags or vcard.get("tags"),
            "licenses": vcard.get("licenses"),
            "provenance": vcard.get("provenance"),
        },
        "settings": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()
        },
        "training": {k: v for k, v in rep["training"].items() if k != "history"},
        "metrics": {
            e["name"]: {
                role: {"top1": m["top1"], "macro_f1": m["macro_f1"], "n": m["n"]}
                for role, m in e["models"].items()
            }
            for e in rep["evaluations"]
        },
        "software": {"facetrove": __version__, "torch": torch.__version__},
    }


def _parent(start: Source, parent: Source | None) -> dict[str, Any]:
    if parent is None:
        return {"id": None, "init": "scratch", "architecture_from": start.id}
    return {
        "id": parent.id,
        "sha256": parent.sha256,
        "classes": parent.classes,
        "training_data": parent.meta.get("training_data"),
        "license": parent.meta.get("license"),
    }


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.1f}" if signed else f"{x * 100:.1f}"


def summary_table(rep: dict[str, Any]) -> Table:
    """Top-1 and macro-F1 of both models on every evaluation, with the differences."""
    why = f" ({rep['baseline_reason']})" if rep.get("baseline_reason") else ""
    t = Table(title=f"{rep['model']} against {rep['baseline']}{why}")
    for col in ("evaluation", "n", "top-1 new", "top-1 base", "diff", "macro-F1 new",
                "macro-F1 base", "diff", "agree"):  # fmt: skip
        t.add_column(col, justify="left" if col == "evaluation" else "right")
    for e in rep["evaluations"]:
        new, base = e["models"]["new"], e["models"].get("baseline", {})
        diff = e.get("diff", {})
        t.add_row(
            e["name"], str(e["n"]), _pct(new["top1"]), _pct(base.get("top1")),
            _pct(diff.get("top1"), True), _pct(new["macro_f1"]), _pct(base.get("macro_f1")),
            _pct(diff.get("macro_f1"), True), _pct(e.get("agreement")),
        )  # fmt: skip
    return t


def class_table(evaluation: dict[str, Any]) -> Table:
    """Per-class precision and recall of both models on one evaluation."""
    t = Table(title=f"per class on {evaluation['name']} (precision / recall, %)")
    for col in ("class", "support", "new P", "new R", "base P", "base R", "R diff"):
        t.add_column(col, justify="left" if col == "class" else "right")
    new = evaluation["models"]["new"]["per_class"]
    base = evaluation["models"].get("baseline", {}).get("per_class", {})
    for c, m in new.items():
        b = base.get(c, {})
        rdiff = (
            m["recall"] - b["recall"]
            if m.get("recall") is not None and b.get("recall") is not None
            else None
        )
        t.add_row(
            c, str(m["support"]), _pct(m["precision"]), _pct(m["recall"]),
            _pct(b.get("precision")), _pct(b.get("recall")), _pct(rdiff, True),
        )  # fmt: skip
    return t


def card_markdown(card: dict[str, Any], rep: dict[str, Any]) -> str:
    """The model card for people."""
    v, tr = card["version"], card["training"]
    parent = card["parent"]
    lines = [f"# Model {card['model_id']}", ""]
    lines.append(
        f"Emotion classifier for facetrove agents, trained on dataset version **{v['id']}** "
        f"({v['samples']} reviewed samples) from "
        + (
            f"**{parent['id']}** (sha256 `{parent['sha256'][:12]}`)."
            if parent["id"]
            else "scratch."
        )
    )
    lines += ["", f"Classes: {', '.join(card['classes'])}."]
    if card["classes_kept_from_parent"] != card["classes"]:
        kept = ", ".join(card["classes_kept_from_parent"]) or "none"
        lines.append(f"Head rows kept from the parent: {kept}.")
    lines += ["", "## Metrics (new model against " + rep["baseline"] + ")", ""]
    if rep.get("baseline_reason"):
        lines += [f"Compared with {rep['baseline']}: {rep['baseline_reason']}.", ""]
    lines += ["| evaluation | n | top-1 new | top-1 base | macro-F1 new | macro-F1 base | agree |"]
    lines += ["|---|---:|---:|---:|---:|---:|---:|"]
    for e in rep["evaluations"]:
        new, base = e["models"]["new"], e["models"].get("baseline", {})
        lines.append(
            f"| {e['name']} | {e['n']} | {_pct(new['top1'])} | {_pct(base.get('top1'))} | "
            f"{_pct(new['macro_f1'])} | {_pct(base.get('macro_f1'))} | {_pct(e.get('agreement'))} |"
        )
    lines += ["", "Confusion matrices: " + ", ".join(
        f"`{p}`" for e in rep["evaluations"] for p in e["confusion_png"].values()
    ) + "."]  # fmt: skip
    lines += ["", "## Training", ""]
    s = card["settings"]
    lines.append(
        f"init {s['init']}, {tr['epochs_run']} of {s['epochs']} epochs ({tr['stopped']}, best epoch"
        f" {tr['best_epoch']}), batch {s['batch_size']}, lr {s['lr']}, freeze {s['freeze']} stages,"
        f" L2-SP {s['l2sp']}, distillation {s['distill']}, balance {s['balance']}, augmentation"
        f" {'on' if s['augment'] else 'off'}, seed {s['seed']}; {tr['seconds']} s,"
        f" {tr['images_per_s']} images/s."
    )
    lines += ["", "## Data and terms", ""]
    if isinstance(v.get("tags"), dict):
        tags = "; ".join(f"{t} ({n} samples)" for t, n in v["tags"].items())
        lines.append(f"Sources (import tags, with their licence notes): {tags}.")
    elif v.get("tags"):
        lines.append(f"Tags: {v['tags']}.")
    if v.get("licenses"):
        lines.append(f"Licences: {v['licenses']}.")
    if v.get("provenance"):
        lines.append(v["provenance"])
    if parent.get("license"):
        lines.append(f"Parent weights: {parent['license']} (trained on {parent['training_data']}).")
    return "\n".join(lines) + "\n"
