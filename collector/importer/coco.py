"""COCO detection JSON: ``images``, ``annotations`` (``bbox`` = x, y, width, height in pixels)
and ``categories``. Our ``coco`` export and Roboflow's keep ``_annotations.coco.json`` next to the
images of each split; the classic layout keeps ``annotations/*.json`` beside an image folder."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from typing import Any

from facetrove.collector.importer.base import ImportRefused, ReadResult, Skip
from facetrove.collector.importer.common import finish, load_json, resolve_image
from facetrove.collector.importer.tree import Tree


def _coco_files(tree: Tree) -> list[str]:
    return [
        p
        for p in tree.with_suffix(".json")
        if p.lower().endswith(".coco.json") or "annotations" in p.lower().split("/")[:-1]
    ]


class CocoReader:
    name = "coco"
    description = "COCO JSON (pycocotools, torchvision CocoDetection)"

    def detect(self, tree: Tree) -> bool:
        return bool(_coco_files(tree))

    def read(self, tree: Tree) -> ReadResult:
        out = ReadResult()
        annotated: dict[str, list[tuple[str, tuple[float, ...]]]] = defaultdict(list)
        for path in _coco_files(tree):
            out.used.add(path)
            doc: Any = load_json(tree, path)
            try:
                names = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
                images = {int(i["id"]): str(i["file_name"]) for i in doc["images"]}
                anns = doc.get("annotations", [])
            except (ValueError, KeyError, TypeError) as exc:
                raise ImportRefused(f"{path}: not a COCO file ({exc!r})") from None
            folder = posixpath.dirname(path)
            if posixpath.basename(folder).lower() == "annotations":
                folder = posixpath.dirname(folder)
            found: dict[int, str] = {}
            for image_id, name in images.items():
                image = resolve_image(tree, folder, name)
                if image is None:
                    out.skipped.append(Skip(f"{path}#{image_id}", "missing-image", name[:200]))
                    continue
                found[image_id] = image
                annotated[image]
            for n, ann in enumerate(anns):
                try:
                    image = found.get(int(ann["image_id"]))
                    label = names[int(ann["category_id"])]
                    x, y, w, h = (float(v) for v in ann["bbox"])
                except (KeyError, TypeError, ValueError):
                    out.skipped.append(Skip(f"{path}#annotation{n}", "bad-annotation"))
                    continue
                if image is not None:
                    annotated[image].append((label, (x, y, x + w, y + h)))
        return finish(tree, out, annotated)
