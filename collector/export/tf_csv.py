"""TensorFlow object-detection CSV, exactly ``filename,width,height,class,xmin,ymin,xmax,ymax``.

One row per box, whole pixels from 0, one ``_annotations.csv`` next to the images of each split
(the layout of the seed paper's Fig. 6).
"""

from __future__ import annotations

from pathlib import Path

from facetrove.collector.export.base import Task, VersionData, copy_image
from facetrove.collector.export.boxes import pixel_box
from facetrove.collector.export.cells import csv_writer

HEADER = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
CSV_NAME = "_annotations.csv"


class TfCsvExporter:
    name = "tf-csv"
    task: Task = "detection"
    description = "TensorFlow CSV: filename,width,height,class,xmin,ymin,xmax,ymax"

    def write(self, version: VersionData, out: Path) -> None:
        """Copy frames into ``<split>/`` and write its ``_annotations.csv``."""
        for split, images in version.by_split("detection"):
            folder = out / split
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / CSV_NAME, "w", newline="", encoding="utf-8") as fh:
                writer = csv_writer(fh)
                writer.writerow(HEADER)
                for image in images:
                    copy_image(image, str(folder))
                    for box, label in zip(image.boxes, image.labels, strict=True):
                        b = pixel_box(box, image.width, image.height)
                        writer.writerow([image.name, image.width, image.height, label, *b])
