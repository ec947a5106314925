"""Ultralytics YOLO classification layout: ``train/<class>/``, ``val/<class>/``, ``test/<class>/``.

``YOLO("yolov8n-cls.pt").train(data=str(out))`` takes the folder itself (no data.yaml).
"""

from __future__ import annotations

from pathlib import Path

from facetrove.collector.export.base import Task, VersionData, copy_image

#: Ultralytics looks for "val", not "valid"
FOLDER = {"train": "train", "valid": "val", "test": "test"}


class YoloClsExporter:
    name = "yolo-cls"
    task: Task = "classification"
    description = "Ultralytics YOLO classification folders (train/val/test)"

    def write(self, version: VersionData, out: Path) -> None:
        """Copy each crop into ``<train|val|test>/<class>/``."""
        for split, images in version.by_split("classification"):
            folders = {label: out / FOLDER[split] / label for label in version.classes}
            for path in folders.values():
                path.mkdir(parents=True, exist_ok=True)
            names = {label: str(path) for label, path in folders.items()}
            for image in images:
                copy_image(image, names[image.labels[0]])
