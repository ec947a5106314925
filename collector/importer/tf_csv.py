"""TensorFlow object-detection CSV: ``_annotations.csv`` with
``filename,width,height,class,xmin,ymin,xmax,ymax`` (pixels), one row per box, next to the
images (our ``tf-csv`` export, Roboflow's "Tensorflow Object Detection CSV", the seed's Fig. 6)."""

from __future__ import annotations

import posixpath
from collections import defaultdict

from facetrove.collector.importer.base import ImportRefused, ReadResult, Skip
from facetrove.collector.importer.common import csv_rows, finish, resolve_image
from facetrove.collector.importer.tree import Tree

CSV_NAME = "_annotations.csv"
COLUMNS = ("filename", "class", "xmin", "ymin", "xmax", "ymax")


class TfCsvReader:
    name = "tf-csv"
    description = "TensorFlow CSV: filename,width,height,class,xmin,ymin,xmax,ymax per box"

    def detect(self, tree: Tree) -> bool:
        return bool(tree.named(CSV_NAME))

    def read(self, tree: Tree) -> ReadResult:
        out = ReadResult()
        annotated: dict[str, list[tuple[str, tuple[float, ...]]]] = defaultdict(list)
        for csv_path in tree.named(CSV_NAME):
            out.used.add(csv_path)
            folder = posixpath.dirname(csv_path)
            rows = csv_rows(tree, csv_path)
            header = [h.strip().lower() for h in (rows[0] if rows else [])]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise ImportRefused(f"{csv_path}: no column {', '.join(missing)} in the header")
            for n, values in enumerate(rows[1:], start=2):
                if not values:
                    continue
                row = {k: v.strip() for k, v in zip(header, values, strict=False)}
                if any(c not in row for c in COLUMNS):
                    out.skipped.append(Skip(f"{csv_path}:{n}", "bad-annotation", "short row"))
                    continue
                image = resolve_image(tree, folder, row["filename"])
                if image is None:
                    out.skipped.append(Skip(f"{csv_path}:{n}", "missing-image", row["filename"]))
                    continue
                try:
                    box = tuple(float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
                except ValueError:
                    out.skipped.append(Skip(f"{csv_path}:{n}", "bad-annotation", "box"))
                    continue
                annotated[image].append((row["class"], box))
        return finish(tree, out, annotated)
