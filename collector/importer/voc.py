"""Pascal VOC: one XML file per image (``<filename>``, ``<object><name>`` and a ``<bndbox>``
whose pixel indices start at 1), next to the image (our ``voc`` export, Roboflow's) or in an
``Annotations/`` folder beside ``JPEGImages/``."""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from collections import defaultdict

from facetrove.collector.importer.base import ReadResult, Skip
from facetrove.collector.importer.common import finish, read_text, resolve_image
from facetrove.collector.importer.tree import IMAGE_SUFFIXES, Tree


class VocReader:
    name = "voc"
    description = "Pascal VOC XML per image"

    def detect(self, tree: Tree) -> bool:
        return bool(tree.with_suffix(".xml"))

    def read(self, tree: Tree) -> ReadResult:
        out = ReadResult()
        annotated: dict[str, list[tuple[str, tuple[float, ...]]]] = defaultdict(list)
        for path in tree.with_suffix(".xml"):
            out.used.add(path)
            text = read_text(tree, path)
            if "<!DOCTYPE" in text or "<!ENTITY" in text:
                out.skipped.append(Skip(path, "unsafe-xml", "DTDs and entities are refused"))
                continue
            try:
                root = ET.fromstring(text)
            except ET.ParseError as exc:
                out.skipped.append(Skip(path, "bad-annotation", str(exc)))
                continue
            if root.tag != "annotation":
                out.skipped.append(Skip(path, "not-annotated", "not a VOC annotation"))
                continue
            image = self._image(tree, path, root.findtext("filename", "").strip())
            if image is None:
                out.skipped.append(Skip(path, "missing-image", root.findtext("filename", "")))
                continue
            annotated[image]
            for obj in root.iter("object"):
                label = (obj.findtext("name") or "").strip()
                bnd = obj.find("bndbox")
                try:
                    assert bnd is not None
                    x0, y0, x1, y1 = (
                        float(bnd.findtext(k) or "") for k in ("xmin", "ymin", "xmax", "ymax")
                    )
                except (AssertionError, ValueError):
                    out.skipped.append(Skip(path, "bad-annotation", f"object {label!r}"))
                    continue
                # VOC counts pixels from 1 and includes xmax: back to 0-based, exclusive
                annotated[image].append((label, (x0 - 1, y0 - 1, x1, y1)))
        return finish(tree, out, annotated)

    @staticmethod
    def _image(tree: Tree, xml_path: str, filename: str) -> str | None:
        folder = posixpath.dirname(xml_path)
        if filename:
            found = resolve_image(tree, folder, filename)
            if found is not None:
                return found
        stem = posixpath.splitext(xml_path)[0]
        for suffix in sorted(IMAGE_SUFFIXES):
            for candidate in (stem + suffix, stem.replace("Annotations", "JPEGImages") + suffix):
                if candidate in tree.files:
                    return candidate
        return None
