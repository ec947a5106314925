"""CreateML object detection: ``_annotations.createml.json``, a list of
``{image, annotations: [{label, coordinates: {x, y, width, height}}]}`` with the box centre and
size in pixels (our ``createml`` export and Roboflow's)."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from typing import Any

from facetrove.collector.importer.base import ImportRefused, ReadResult, Skip
from facetrove.collector.importer.common import finish, load_json, resolve_image
from facetrove.collector.importer.tree import Tree

SUFFIX = ".createml.json"


class CreateMLReader:
    name = "createml"
    description = "Apple CreateML JSON (box centre + size)"

    def detect(self, tree: Tree) -> bool:
        return any(p.lower().endswith(SUFFIX) for p in tree.files)

    def read(self, tree: Tree) -> ReadResult:
        out = ReadResult()
        annotated: dict[str, list[tuple[str, tuple[float, ...]]]] = defaultdict(list)
        for path in sorted(p for p in tree.files if p.lower().endswith(SUFFIX)):
            out.used.add(path)
            doc: Any = load_json(tree, path)
            if not isinstance(doc, list):
                raise ImportRefused(f"{path}: a CreateML file is a JSON list of images")
            for n, entry in enumerate(doc):
                try:
                    name = str(entry["image"])
                    anns = [(str(a["label"]), _box(a["coordinates"])) for a in entry["annotations"]]
                except (KeyError, TypeError, ValueError):
                    out.skipped.append(Skip(f"{path}[{n}]", "bad-annotation"))
                    continue
                image = resolve_image(tree, posixpath.dirname(path), name)
                if image is None:
                    out.skipped.append(Skip(f"{path}[{n}]", "missing-image", name[:200]))
                    continue
                annotated[image].extend(anns)
        return finish(tree, out, annotated)


def _box(c: dict[str, Any]) -> tuple[float, ...]:
    x, y, w, h = (float(c[k]) for k in ("x", "y", "width", "height"))
    return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
