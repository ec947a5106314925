"""COCO detection JSON per split: ``<split>/_annotations.coco.json`` next to the images.

Category ids start at 1 in class order (0 is background by COCO convention).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facetrove.collector.export.base import Task, VersionData, copy_image
from facetrove.collector.export.boxes import coco_bbox

JSON_NAME = "_annotations.coco.json"


class CocoExporter:
    name = "coco"
    task: Task = "detection"
    description = "COCO JSON per split (pycocotools, torchvision CocoDetection)"

    def write(self, version: VersionData, out: Path) -> None:
        """Copy frames into ``<split>/`` and write its COCO annotations file."""
        categories = [
            {"id": i + 1, "name": c, "supercategory": "face"} for i, c in enumerate(version.classes)
        ]
        for split, images in version.by_split("detection"):
            folder = out / split
            folder.mkdir(parents=True, exist_ok=True)
            coco_images: list[dict[str, Any]] = []
            annotations: list[dict[str, Any]] = []
            for image_id, image in enumerate(images, start=1):
                copy_image(image, str(folder))
                coco_images.append(
                    {"id": image_id, "file_name": image.name, "width": image.width,
                     "height": image.height}
                )  # fmt: skip
                for box, label in zip(image.boxes, image.labels, strict=True):
                    bbox = coco_bbox(box, image.width, image.height)
                    annotations.append(
                        {"id": len(annotations) + 1, "image_id": image_id,
                         "category_id": version.class_id(label) + 1, "bbox": bbox,
                         "area": round(bbox[2] * bbox[3], 2), "iscrowd": 0, "segmentation": []}
                    )  # fmt: skip
            doc = {
                "info": {"description": f"facetrove version {version.id}, {split} split"},
                "licenses": [],
                "categories": categories,
                "images": coco_images,
                "annotations": annotations,
            }
            (folder / JSON_NAME).write_text(json.dumps(doc, separators=(",", ":")))
