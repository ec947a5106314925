"""Pascal VOC: one XML file per image, next to it in ``<split>/``."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from facetrove.collector.export.base import Image, Task, VersionData, copy_image, write_file
from facetrove.collector.export.boxes import voc_box

_OBJECT = """  <object>
    <name>{name}</name>
    <pose>Unspecified</pose>
    <truncated>0</truncated>
    <difficult>0</difficult>
    <bndbox>
      <xmin>{0}</xmin>
      <ymin>{1}</ymin>
      <xmax>{2}</xmax>
      <ymax>{3}</ymax>
    </bndbox>
  </object>
"""


def voc_xml(image: Image, folder: str) -> bytes:
    """The annotation document of one image (a fixed template: ten thousand of these are written
    per export, and ElementTree costs several times more)."""
    objects = "".join(
        _OBJECT.format(*voc_box(box, image.width, image.height), name=escape(label))
        for box, label in zip(image.boxes, image.labels, strict=True)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotation>\n'
        f"  <folder>{escape(folder)}</folder>\n  <filename>{escape(image.name)}</filename>\n"
        f"  <size>\n    <width>{image.width}</width>\n    <height>{image.height}</height>\n"
        "    <depth>3</depth>\n  </size>\n  <segmented>0</segmented>\n"
        f"{objects}</annotation>\n"
    ).encode()


class VocExporter:
    name = "voc"
    task: Task = "detection"
    description = "Pascal VOC XML per image"

    def write(self, version: VersionData, out: Path) -> None:
        """Copy frames into ``<split>/`` with an XML file each."""
        for split, images in version.by_split("detection"):
            folder = out / split
            folder.mkdir(parents=True, exist_ok=True)
            for image in images:
                copy_image(image, str(folder))
                write_file(f"{folder}/{image.stem}.xml", voc_xml(image, split))
