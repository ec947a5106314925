"""Pascal VOC: one XML file per image, next to it in ``<split>/``."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from collector.export.base import Image, Task, VersionData, copy_image
from collector.export.boxes import voc_box


def voc_xml(image: Image, folder: str) -> bytes:
    """The annotation document of one image."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = image.name
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(image.width)
    ET.SubElement(size, "height").text = str(image.height)
    ET.SubElement(size, "depth").text = "3"
    ET.SubElement(root, "segmented").text = "0"
    for box, label in zip(image.boxes, image.labels, strict=True):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = label
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "0"
        bnd = ET.SubElement(obj, "bndbox")
        for key, value in zip(
            ("xmin", "ymin", "xmax", "ymax"), voc_box(box, image.width, image.height), strict=True
        ):
            ET.SubElement(bnd, key).text = str(value)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


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
                copy_image(image, folder)
                (folder / (image.path.stem + ".xml")).write_bytes(voc_xml(image, split))
