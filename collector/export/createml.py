"""CreateML object detection JSON per split: ``<split>/_annotations.createml.json``."""

from __future__ import annotations

import json
from pathlib import Path

from facetrove.collector.export.base import Task, VersionData, copy_image
from facetrove.collector.export.boxes import createml_coordinates

JSON_NAME = "_annotations.createml.json"


class CreateMLExporter:
    name = "createml"
    task: Task = "detection"
    description = "Apple CreateML JSON per split (box centre + size)"

    def write(self, version: VersionData, out: Path) -> None:
        """Copy frames into ``<split>/`` and write its CreateML file."""
        for split, images in version.by_split("detection"):
            folder = out / split
            folder.mkdir(parents=True, exist_ok=True)
            doc = []
            for image in images:
                copy_image(image, str(folder))
                doc.append(
                    {
                        "image": image.name,
                        "annotations": [
                            {
                                "label": label,
                                "coordinates": createml_coordinates(box, image.width, image.height),
                            }
                            for box, label in zip(image.boxes, image.labels, strict=True)
                        ],
                    }
                )
            (folder / JSON_NAME).write_text(json.dumps(doc, indent=1))
