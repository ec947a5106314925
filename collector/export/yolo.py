"""Ultralytics YOLO detection: ``data.yaml``, ``images/<split>/``, ``labels/<split>/``.

``data.yaml`` has no ``path`` key, so Ultralytics resolves the folders next to the yaml file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from facetrove.collector.export.base import Task, VersionData, copy_image, write_file
from facetrove.collector.export.boxes import yolo_line


class YoloExporter:
    name = "yolo"
    task: Task = "detection"
    description = "Ultralytics YOLO: data.yaml, images/, labels/ (normalised cx cy w h)"

    def write(self, version: VersionData, out: Path) -> None:
        """Copy frames into ``images/<split>/`` with one label file each, and write data.yaml."""
        for split, images in version.by_split("detection"):
            (out / "images" / split).mkdir(parents=True, exist_ok=True)
            (out / "labels" / split).mkdir(parents=True, exist_ok=True)
            image_dir, label_dir = str(out / "images" / split), str(out / "labels" / split)
            for image in images:
                copy_image(image, image_dir)
                lines = [
                    yolo_line(box, version.class_id(label), image.width, image.height)
                    for box, label in zip(image.boxes, image.labels, strict=True)
                ]
                text = "".join(line + "\n" for line in lines)
                write_file(f"{label_dir}/{image.stem}.txt", text.encode())
        data = {
            "train": "images/train",
            "val": "images/valid",
            "test": "images/test",
            "nc": len(version.classes),
            "names": list(version.classes),
        }
        (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
