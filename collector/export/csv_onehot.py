"""Multi-class CSV: ``<split>/_classes.csv`` with ``filename`` and one 0/1 column per class."""

from __future__ import annotations

from pathlib import Path

from facetrove.collector.export.base import Task, VersionData, copy_image
from facetrove.collector.export.cells import csv_writer

CSV_NAME = "_classes.csv"


def onehot_row(filename: str, label: str, classes: tuple[str, ...]) -> list[str]:
    """``[filename, 0, 1, 0, ...]`` with the 1 in ``label``'s column."""
    if label not in classes:
        raise ValueError(f"label {label!r} is not one of the classes {list(classes)}")
    return [filename, *("1" if c == label else "0" for c in classes)]


class CsvOneHotExporter:
    name = "csv"
    task: Task = "classification"
    description = "images per split plus _classes.csv with one-hot class columns"

    def write(self, version: VersionData, out: Path) -> None:
        """Copy crops into ``<split>/`` and write its ``_classes.csv``."""
        for split, images in version.by_split("classification"):
            folder = out / split
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / CSV_NAME, "w", newline="", encoding="utf-8") as fh:
                writer = csv_writer(fh)
                writer.writerow(["filename", *version.classes])
                for image in images:
                    copy_image(image, str(folder))
                    writer.writerow(onehot_row(image.name, image.labels[0], version.classes))
