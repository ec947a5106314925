"""Classification metrics and a confusion-matrix picture (NumPy and OpenCV, no plotting library).

A model whose class list differs from the version's (the bundled model has seven classes, a
version may have five) is scored on what it would tell a reviewer: its top class by name; a name
outside the version's classes is counted wrong and shown in an ``(other)`` column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

OTHER = "(other)"


def scores(true: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """Top-1, macro-F1 (over the classes present in ``true``), per-class precision / recall /
    support, and the confusion matrix (rows true, columns predicted; ``(other)`` last if any)."""
    n = len(true)
    columns = list(classes) + ([OTHER] if any(p not in classes for p in predicted) else [])
    col = {c: i for i, c in enumerate(columns)}
    matrix = np.zeros((len(classes), len(columns)), dtype=np.int64)
    for t, p in zip(true, predicted, strict=True):
        matrix[classes.index(t), col.get(p, col.get(OTHER, 0))] += 1
    per_class: dict[str, dict[str, float | int | None]] = {}
    f1s = []
    for i, c in enumerate(classes):
        tp, support, said = int(matrix[i, i]), int(matrix[i].sum()), int(matrix[:, i].sum())
        precision = tp / said if said else None
        recall = tp / support if support else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision and recall
            else (0.0 if support else None)
        )
        if support:
            f1s.append(f1 or 0.0)
        per_class[c] = {
            "precision": _r(precision),
            "recall": _r(recall),
            "f1": _r(f1),
            "support": support,
        }
    return {
        "n": n,
        "top1": _r(float(np.trace(matrix[:, : len(classes)])) / n if n else None),
        "macro_f1": _r(float(np.mean(f1s)) if f1s else None),
        "per_class": per_class,
        "confusion": {"rows": list(classes), "columns": columns, "counts": matrix.tolist()},
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def confusion_png(confusion: dict[str, Any], title: str, path: Path) -> None:
    """Write the confusion matrix as a PNG: cells shaded by row share, with counts."""
    rows, cols = confusion["rows"], confusion["columns"]
    counts = np.array(confusion["counts"], dtype=np.float64).reshape(len(rows), len(cols))
    cell, left, top = 64, 120, 110
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    width, height = left + cell * len(cols) + 20, top + cell * len(rows) + 40
    img = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(img, title[:70], (10, 22), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "predicted", (left, 48), font, scale, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(img, "true", (10, top - 8), font, scale, (80, 80, 80), 1, cv2.LINE_AA)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    for j, name in enumerate(cols):
        org = (left + j * cell + 4, top - 12 - (j % 2) * 16)
        cv2.putText(img, name[:9], org, font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    for i, name in enumerate(rows):
        y = top + i * cell
        cv2.putText(img, name[:14], (10, y + cell // 2 + 5), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(len(cols)):
            x = left + j * cell
            shade = int(255 - 200 * share[i, j])
            colour = (255, shade, shade) if i != j else (shade, 255, shade)
            cv2.rectangle(img, (x, y), (x + cell - 2, y + cell - 2), colour, -1)
            text = str(int(counts[i, j]))
            cv2.putText(img, text, (x + 8, y + cell // 2 + 5), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)
