"""Ultralytics YOLO detection: ``data.yaml`` (``names``) and one ``.txt`` per image with
``class cx cy w h`` normalised to 0..1. Our export keeps ``images/<split>/`` beside
``labels/<split>/``; Roboflow's keeps ``<split>/images/`` beside ``<split>/labels/``; both map an
image to its label file by swapping the last ``images`` folder for ``labels``. Polygon lines
(segmentation exports) become the box around the polygon."""

from __future__ import annotations

import posixpath
from typing import Any

from facetrove.collector.importer.base import ImportRefused, Item, ReadResult, Skip, split_of
from facetrove.collector.importer.common import load_yaml, read_text
from facetrove.collector.importer.tree import Tree

YAML_NAMES = ("data.yaml", "data.yml")


def label_path(image: str) -> str:
    """The YOLO label file of an image path."""
    parts = image.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return posixpath.splitext("/".join(parts))[0] + ".txt"


def parse_line(line: str, names: list[str]) -> tuple[str, tuple[float, ...]]:
    """``(label, normalised xyxy)`` of one label line. Raises ValueError."""
    values = line.split()
    cls = int(values[0])
    if not 0 <= cls < len(names):
        raise ValueError(f"class {cls} is not in names (0..{len(names) - 1})")
    nums = [float(v) for v in values[1:]]
    if len(nums) == 4:
        cx, cy, w, h = nums
        return names[cls], (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    if len(nums) >= 6 and len(nums) % 2 == 0:
        xs, ys = nums[0::2], nums[1::2]
        return names[cls], (min(xs), min(ys), max(xs), max(ys))
    raise ValueError(f"expected 'class cx cy w h' or a polygon, got {len(values)} values")


class YoloReader:
    name = "yolo"
    description = "Ultralytics YOLO: data.yaml + images/ + labels/ (ours and Roboflow's layout)"

    def detect(self, tree: Tree) -> bool:
        return any(tree.named(n) for n in YAML_NAMES) and bool(tree.with_suffix(".txt"))

    def read(self, tree: Tree) -> ReadResult:
        out = ReadResult()
        names = self._names(tree, out)
        for image in tree.images():
            label_file = label_path(image)
            if label_file not in tree.files:
                out.skipped.append(Skip(image, "not-annotated", f"no {label_file}"))
                continue
            out.used.add(label_file)
            labels: list[str] = []
            boxes: list[tuple[float, float, float, float]] = []
            for n, line in enumerate(read_text(tree, label_file).splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    label, b = parse_line(line, names)
                except (ValueError, IndexError) as exc:
                    out.skipped.append(Skip(f"{label_file}:{n}", "bad-annotation", str(exc)))
                    continue
                labels.append(label)
                boxes.append((b[0], b[1], b[2], b[3]))
            if not boxes:
                out.skipped.append(Skip(image, "no-face-box", "empty label file"))
                continue
            out.items.append(Item(image, tuple(labels), tuple(boxes), split_of(image), True))
        return out

    @staticmethod
    def _names(tree: Tree, out: ReadResult) -> list[str]:
        paths = [p for n in YAML_NAMES for p in tree.named(n)]
        if not paths:
            raise ImportRefused("a YOLO set needs its data.yaml (the class names)")
        path = min(paths, key=lambda p: p.count("/"))
        out.used.update(paths)
        doc: Any = load_yaml(tree, path)
        try:
            names = doc["names"]
        except (KeyError, TypeError) as exc:
            raise ImportRefused(f"{path}: no class names ({exc})") from None
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names, key=int)]
        if not isinstance(names, list) or not names:
            raise ImportRefused(f"{path}: names must be a list or a mapping of class names")
        if not all(isinstance(n, str | int) and not isinstance(n, bool) for n in names):
            # a nested value (a YAML alias bomb among them) would become one huge "name"
            raise ImportRefused(f"{path}: every class name must be a string")
        return [str(n) for n in names]
