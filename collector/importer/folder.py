"""Class folders: ``<class>/<image>``, ``<split>/<class>/<image>`` (our ``folder`` export,
Ultralytics' classification layout with ``val``, Roboflow's folder export, public expression
sets), possibly inside one top folder. An image's label is the name of the folder it is in;
images at the top, or directly in a split folder, have no label."""

from __future__ import annotations

from facetrove.collector.importer.base import SPLIT_NAMES, Item, ReadResult, split_of
from facetrove.collector.importer.tree import Tree


def folder_label(path: str) -> str | None:
    """The class-folder label of an image path, or None."""
    parts = path.split("/")
    if len(parts) < 2:
        return None
    parent = parts[-2].strip()
    if parent.lower() in SPLIT_NAMES or parent.lower() == "images":
        return None
    return parent or None


class FolderReader:
    name = "folder"
    description = "class folders (with or without train/valid/test folders), any image size"

    def detect(self, tree: Tree) -> bool:
        return bool(tree.images())

    def read(self, tree: Tree) -> ReadResult:
        out = ReadResult()
        for path in tree.images():
            out.items.append(Item(path, (folder_label(path),), (), split_of(path)))
        return out
