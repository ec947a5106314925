"""Classification CSV: ``_classes.csv`` with ``filename`` and one 0/1 column per class, next to
the images (our ``csv`` export; Roboflow's multi-class CSV, whose class columns start with a
space)."""

from __future__ import annotations

import posixpath

from facetrove.collector.importer.base import ImportRefused, Item, ReadResult, Skip, split_of
from facetrove.collector.importer.common import csv_rows, resolve_image
from facetrove.collector.importer.tree import Tree

CSV_NAME = "_classes.csv"


class CsvOneHotReader:
    name = "csv"
    description = "images plus _classes.csv with one 0/1 column per class"

    def detect(self, tree: Tree) -> bool:
        return bool(tree.named(CSV_NAME))

    def read(self, tree: Tree) -> ReadResult:
        out = ReadResult()
        listed: set[str] = set()
        for csv_path in tree.named(CSV_NAME):
            out.used.add(csv_path)
            folder = posixpath.dirname(csv_path)
            rows = csv_rows(tree, csv_path)
            header = [h.strip() for h in (rows[0] if rows else [])]
            if len(header) < 2 or header[0].lower() != "filename":
                raise ImportRefused(f"{csv_path}: the header must be filename,<class>,<class>...")
            classes = header[1:]
            for n, row in enumerate(rows[1:], start=2):
                if not row:
                    continue
                where = f"{csv_path}:{n}"
                image = resolve_image(tree, folder, row[0].strip())
                if image is None:
                    out.skipped.append(Skip(where, "missing-image", row[0][:200]))
                    continue
                hot = [c for c, v in zip(classes, row[1:], strict=False) if v.strip() == "1"]
                listed.add(image)
                if len(hot) != 1:
                    why = "no class marked" if not hot else f"{len(hot)} classes marked"
                    out.skipped.append(Skip(image, "not-one-label", why))
                    continue
                out.items.append(Item(image, (hot[0],), (), split_of(image)))
        for path in tree.images():
            if path not in listed:
                out.skipped.append(Skip(path, "not-annotated"))
        return out
