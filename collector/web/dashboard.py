"""Dataset health: class balance, states, devices, days, pre-label accuracy, histograms.

All figures come from the store's aggregates (``store.stats``) over indexed columns and are
cached for a few seconds, so the page stays fast with hundreds of thousands of samples.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from facetrove.collector.store import classes as class_store
from facetrove.collector.store import reviews, sessions, stats
from facetrove.collector.store.samples import selection_counts
from facetrove.collector.web import charts
from facetrove.collector.web.db import get_db

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
CACHE_SECONDS = 3.0
_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def health_figures(max_age: float = CACHE_SECONDS) -> dict[str, Any]:
    """The dashboard's figures as plain JSON-able data (cached per data folder)."""
    key = str(current_app.config["FACETROVE"].data_dir)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < max_age:
            return hit[1]
    figures = _compute()
    with _lock:
        _cache[key] = (time.monotonic(), figures)
    return figures


def clear_cache() -> None:
    """Forget cached figures (after a change the user expects to see at once)."""
    with _lock:
        _cache.clear()


def _compute() -> dict[str, Any]:
    db = get_db()
    ratio = current_app.config["FACETROVE_WEB"].imbalance_ratio
    classes = class_store.class_names(db)
    aliases = class_store.class_aliases(db)
    counts = class_store.confirmed_counts(db)
    balance = {c: counts.get(c, 0) for c in classes}
    nonzero = [v for v in balance.values()]
    lo, hi = (min(nonzero), max(nonzero)) if nonzero else (0, 0)
    warning = None
    if hi and (lo == 0 or hi / lo > ratio):
        small = [c for c, v in balance.items() if v * ratio < hi]
        warning = (
            f"Class imbalance: the largest class has {hi:,} confirmed samples, "
            f"{'some have none' if lo == 0 else f'the smallest {lo:,}'} "
            f"(threshold ratio {ratio:g}). Under-represented: {', '.join(small)}."
        )
    states = stats.state_counts(db)
    per_device: dict[str, dict[str, int]] = defaultdict(dict)
    for device, state, n in stats.device_state_counts(db):
        per_device[device][state] = n
    per_day = stats.samples_per_day(db, 30)
    confusion: dict[str, dict[str, int]] = defaultdict(dict)
    for pre, label, n in stats.prelabel_vs_label(db):
        pre = aliases.get(pre, pre) if pre else "(none)"
        confusion[pre][label] = confusion[pre].get(label, 0) + n
    by_model: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for model_id, day, pre, label, n in stats.prelabel_by_model_day(db):
        cell = by_model[(model_id, day)]
        cell[0] += n if pre is not None and aliases.get(pre, pre) == label else 0
        cell[1] += n
    conf_hist = stats.confidence_histogram(db)
    face_hist = stats.face_size_histogram(db)
    throughput = stats.reviewer_throughput(db)
    return {
        "classes": classes,
        "class_balance": balance,
        "imbalance_ratio": (hi / lo) if lo else None,
        "imbalance_warning": warning,
        "states": {s: states.get(s, 0) for s in reviews.STATES},
        "total": sum(states.values()),
        "duplicates": stats.duplicate_count(db),
        "per_device": dict(sorted(per_device.items())),
        "per_day": [{"day": d, "samples": n} for d, n in per_day],
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
        "prelabel_accuracy": _accuracy(confusion, classes),
        "prelabel_accuracy_by_model": [
            {"model": m, "day": d, "accuracy": c / n, "reviewed": n}
            for (m, d), (c, n) in sorted(by_model.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ],
        "confidence_histogram": [
            {"from": i / 10, "to": (i + 1) / 10, "samples": conf_hist.get(i, 0)} for i in range(10)
        ],
        "face_size_histogram": [
            {
                "from": i * 32,
                "to": None if i == 15 else (i + 1) * 32,
                "samples": face_hist.get(i, 0),
            }
            for i in range(16)
        ],
        "throughput": [{"reviewer": u, "day": d, "decisions": n} for u, d, n in throughput],
        "selection": dict(selection_counts(db)),
    }


def _accuracy(confusion: dict[str, dict[str, int]], classes: list[str]) -> dict[str, Any]:
    """Per-class precision and recall of the pre-label against confirmed labels."""
    total = sum(sum(row.values()) for row in confusion.values())
    correct = sum(confusion.get(c, {}).get(c, 0) for c in classes)
    per_class = {}
    for c in classes:
        tp = confusion.get(c, {}).get(c, 0)
        predicted = sum(confusion.get(c, {}).values())
        actual = sum(row.get(c, 0) for row in confusion.values())
        per_class[c] = {
            "precision": tp / predicted if predicted else None,
            "recall": tp / actual if actual else None,
            "support": actual,
        }
    return {
        "overall": correct / total if total else None,
        "reviewed": total,
        "per_class": per_class,
    }


def _series(rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, float, int]]]:
    series: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for row in rows:
        series[row["model"]].append((row["day"], row["accuracy"], row["reviewed"]))
    return dict(series)


@bp.get("/")
def index() -> Any:
    """The dashboard page: charts as inline SVG."""
    f = health_figures()
    classes = f["classes"]
    target = max(f["class_balance"].values() or [0])
    throughput: dict[str, int] = defaultdict(int)
    for row in f["throughput"]:
        throughput[row["reviewer"]] += row["decisions"]
    svg = {
        "balance": charts.bar_chart(
            list(f["class_balance"].items()),
            "Confirmed samples per class",
            mark=target if target else None,
            mark_label="largest class",
        ),
        "states": charts.bar_chart(
            list(f["states"].items()),
            "Samples by review state",
            colors=[charts.STATE_COLORS[s] for s in f["states"]],
        ),
        "devices": charts.stacked_bar_chart(
            list(f["per_device"].items())[:20], reviews.STATES, "Samples per device"
        ),
        "days": charts.column_chart(
            [(r["day"][5:], r["samples"]) for r in f["per_day"]],
            "Samples captured per day (last 30 days with data)",
            every=max(1, len(f["per_day"]) // 8),
            y_label="samples",
        ),
        "confidence": charts.column_chart(
            [(f"{b['from']:.1f}", b["samples"]) for b in f["confidence_histogram"]],
            "Pre-label confidence",
            x_label="top-1 probability (bin start)",
            y_label="samples",
            color="#7c3aed",
        ),
        "faces": charts.column_chart(
            [(str(b["from"]), b["samples"]) for b in f["face_size_histogram"]],
            "Face size",
            x_label="shorter side of the face box, px (bin start)",
            y_label="samples",
            color="#0891b2",
            every=2,
        ),
        "model_accuracy": charts.line_chart(
            _series(f["prelabel_accuracy_by_model"]),
            "Pre-label accuracy per model, by capture day (confirmed samples)",
        ),
        "selection": charts.bar_chart(
            list(f["selection"].items()), "Samples by why they were kept (selection)"
        ),
        "throughput": charts.bar_chart(
            sorted(throughput.items(), key=lambda kv: -kv[1]),
            "Decisions per reviewer (last 14 days)",
        ),
    }
    top_cell = max([n for row in f["confusion"].values() for n in row.values()] or [1])
    failed = sessions.recent_failures(get_db()) if current_user.is_admin else []
    return render_template(
        "dashboard/index.html", f=f, svg=svg, classes=classes, top_cell=top_cell, failed=failed
    )
