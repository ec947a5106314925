"""What every import format reader gives: the images of a data set with their labels and boxes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from facetrove.collector.importer.tree import Tree

Box = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in image pixels


class ImportRefused(Exception):
    """The whole import cannot go ahead (message for the user); nothing was written."""


@dataclass(frozen=True)
class Skip:
    """A file set aside, and why (``hidden``, ``not-an-image``, ``broken-image``, ...)."""

    path: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Item:
    """One image to import.

    A classification item has one label and no box: the image is a face crop, or a photo whose
    faces are found by detection. A detection item has a box per face and a label per box.
    ``label`` None means the source gives none (an image at the top of a folder).
    """

    path: str
    labels: tuple[str | None, ...] = (None,)
    boxes: tuple[Box, ...] = ()
    split: str | None = None
    normalized: bool = False  # boxes are fractions of the image size (YOLO), not pixels

    @property
    def annotated(self) -> bool:
        return bool(self.boxes)


@dataclass
class ReadResult:
    """A reader's view of a tree: items, the files it consumed, the ones it set aside."""

    items: list[Item] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # annotation files read


class Reader(Protocol):
    """One import format: the mirror of an exporter."""

    name: str  # the --format value
    description: str

    def detect(self, tree: Tree) -> bool:
        """True if ``tree`` looks like this format (cheap: names only)."""

    def read(self, tree: Tree) -> ReadResult:
        """The images and annotations of ``tree``. Raises ImportRefused for a broken set."""


SPLIT_NAMES = {"train": "train", "valid": "valid", "val": "valid", "test": "test"}


def split_of(path: str) -> str | None:
    """The split a path's first folder names (train, valid/val, test), if any."""
    first = path.split("/", 1)[0].lower()
    return SPLIT_NAMES.get(first) if "/" in path else None
