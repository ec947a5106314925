"""Helpers the annotation readers share: decoding text files, finding the image a row names."""

from __future__ import annotations

import posixpath

from facetrove.collector.importer.base import ImportRefused, Item, ReadResult, Skip, split_of
from facetrove.collector.importer.tree import EntryError, Tree


def read_text(tree: Tree, path: str) -> str:
    """An annotation file as text. Raises ImportRefused if it cannot be read as UTF-8."""
    try:
        return tree.read(path).decode("utf-8-sig")
    except (UnicodeDecodeError, EntryError) as exc:
        raise ImportRefused(f"{path}: cannot read it as a UTF-8 text file ({exc})") from None


def sibling(folder: str, name: str) -> str:
    """``name`` relative to ``folder`` (a tree path), normalised; never leaves the tree."""
    joined = posixpath.normpath(posixpath.join(folder, name.replace("\\", "/")))
    return "" if joined.startswith("../") or joined == ".." else joined.lstrip("./")


def resolve_image(tree: Tree, folder: str, name: str) -> str | None:
    """The tree path of the image ``name`` an annotation in ``folder`` refers to."""
    direct = sibling(folder, name)
    if direct in tree.files:
        return direct
    base = posixpath.basename(name.replace("\\", "/"))
    if base:
        candidates = [p for p in tree.named(base) if p.startswith(folder)] or tree.named(base)
        if len(candidates) == 1:
            return candidates[0]
    return None


def finish(
    tree: Tree, out: ReadResult, annotated: dict[str, list[tuple[str, tuple[float, ...]]]]
) -> ReadResult:
    """Items from ``image path -> [(label, box)]``; images no annotation file mentions are set
    aside as ``not-annotated``."""
    for path, anns in sorted(annotated.items()):
        if not anns:
            out.skipped.append(Skip(path, "no-face-box", "the annotation lists no box"))
            continue
        labels = tuple(label for label, _ in anns)
        boxes = tuple((b[0], b[1], b[2], b[3]) for _, b in anns)
        out.items.append(Item(path, labels, boxes, split_of(path)))
    for path in tree.images():
        if path not in annotated:
            out.skipped.append(Skip(path, "not-annotated"))
    return out
