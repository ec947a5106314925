"""Helpers the annotation readers share: decoding text files, finding the image a row names."""

from __future__ import annotations

import csv
import io
import json
import posixpath
from typing import Any

import yaml

from facetrove.collector.importer.base import ImportRefused, Item, ReadResult, Skip, split_of
from facetrove.collector.importer.tree import MAX_TEXT_BYTES, EntryError, Tree


def read_text(tree: Tree, path: str) -> str:
    """An annotation file as text. Raises ImportRefused if it cannot be read as UTF-8."""
    try:
        return tree.read(path, max_bytes=MAX_TEXT_BYTES).decode("utf-8-sig")
    except (UnicodeDecodeError, EntryError) as exc:
        raise ImportRefused(f"{path}: cannot read it as a UTF-8 text file ({exc})") from None


def csv_rows(tree: Tree, path: str) -> list[list[str]]:
    """An annotation file's CSV rows. Raises ImportRefused (a field past the csv module's
    limit, a NUL byte)."""
    try:
        return list(csv.reader(io.StringIO(read_text(tree, path))))
    except csv.Error as exc:
        raise ImportRefused(f"{path}: not a readable CSV file ({exc})") from None


def load_json(tree: Tree, path: str) -> Any:
    """An annotation file parsed as JSON. Raises ImportRefused (also for absurd nesting)."""
    try:
        return json.loads(read_text(tree, path))
    except (ValueError, RecursionError) as exc:
        raise ImportRefused(f"{path}: not valid JSON ({str(exc)[:200]})") from None


def load_yaml(tree: Tree, path: str) -> Any:
    """An annotation file parsed as YAML (safe loader). Raises ImportRefused."""
    try:
        return yaml.safe_load(read_text(tree, path))
    except (yaml.YAMLError, RecursionError) as exc:
        raise ImportRefused(f"{path}: not valid YAML ({str(exc)[:200]})") from None


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
