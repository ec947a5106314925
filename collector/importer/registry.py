"""The import formats by name (the mirror of collector.export.registry) and ``--format auto``."""

from __future__ import annotations

from collections import Counter

from facetrove.collector.importer.base import ImportRefused, Reader
from facetrove.collector.importer.coco import CocoReader
from facetrove.collector.importer.createml import CreateMLReader
from facetrove.collector.importer.csv_onehot import CsvOneHotReader
from facetrove.collector.importer.folder import FolderReader
from facetrove.collector.importer.tf_csv import TfCsvReader
from facetrove.collector.importer.tree import Tree
from facetrove.collector.importer.voc import VocReader
from facetrove.collector.importer.yolo import YoloReader

#: annotated formats first: ``folder`` matches any tree with images, so it is the fallback
READERS: dict[str, Reader] = {
    "coco": CocoReader(),
    "createml": CreateMLReader(),
    "tf-csv": TfCsvReader(),
    "csv": CsvOneHotReader(),
    "yolo": YoloReader(),
    "voc": VocReader(),
    "folder": FolderReader(),
}
#: the same layout under the name its exporter has
ALIASES = {"yolo-cls": "folder"}
FORMAT_CHOICES = ("auto", *READERS, *ALIASES)


def get_reader(name: str) -> Reader:
    """The reader called ``name`` (or an alias); ImportRefused lists the known ones otherwise."""
    key = ALIASES.get(name, name)
    try:
        return READERS[key]
    except KeyError:
        raise ImportRefused(
            f"unknown import format {name!r} (known: {', '.join(FORMAT_CHOICES)})"
        ) from None


def detect_format(tree: Tree) -> Reader:
    """The one format a tree looks like. Raises ImportRefused when it matches none or several
    annotated formats."""
    found = [r for name, r in READERS.items() if name != "folder" and r.detect(tree)]
    if len(found) > 1:
        names = ", ".join(r.name for r in found)
        raise ImportRefused(
            f"{tree.name} looks like several formats ({names}); choose one with --format"
        )
    if found:
        return found[0]
    if READERS["folder"].detect(tree):
        return READERS["folder"]
    reasons = Counter(skip.reason for skip in tree.skipped)
    aside = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
    raise ImportRefused(
        f"{tree.name}: no images found (accepted: .jpg .jpeg .png .bmp .webp .tif .tiff)"
        + (f"; set aside: {aside}" if aside else "")
    )
