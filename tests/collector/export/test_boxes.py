"""The pure box converters, as tables, including the inputs they must refuse."""

from __future__ import annotations

import pytest

from facetrove.collector.export.boxes import (
    coco_bbox,
    createml_coordinates,
    pixel_box,
    voc_box,
    yolo_line,
)
from facetrove.collector.export.csv_onehot import onehot_row


@pytest.mark.parametrize(
    ("box", "cls", "w", "h", "line"),
    [
        ((0, 0, 100, 100), 0, 100, 100, "0 0.500000 0.500000 1.000000 1.000000"),
        ((10, 20, 30, 60), 3, 100, 200, "3 0.200000 0.200000 0.200000 0.200000"),
        ((-0.3, 0, 50, 50.4), 1, 50, 50, "1 0.500000 0.500000 1.000000 1.000000"),  # rounding
    ],
)
def test_yolo_line(box: tuple[float, ...], cls: int, w: int, h: int, line: str) -> None:
    assert yolo_line(box, cls, w, h) == line  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("box", "cls", "w", "h", "error"),
    [
        ((10, 10, 10, 20), 0, 100, 100, "has no area"),
        ((30, 10, 20, 20), 0, 100, 100, "has no area"),
        ((10, 10, 120, 20), 0, 100, 100, "outside the 100x100 image"),
        ((-5, 10, 20, 20), 0, 100, 100, "outside"),
        ((10, 10, 20, 20), -1, 100, 100, "class id must be >= 0"),
        ((10, 10, 20, 20), 0, 0, 100, "image size must be positive"),
    ],
)
def test_yolo_line_refuses(box: tuple[float, ...], cls: int, w: int, h: int, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        yolo_line(box, cls, w, h)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("box", "coco", "pixels", "voc", "createml"),
    [
        ((10, 20, 30, 60), [10, 20, 20, 40], (10, 20, 30, 60), (11, 21, 30, 60),
         {"x": 20, "y": 40, "width": 20, "height": 40}),
        ((10.4, 20.6, 30.5, 60.2), [10.4, 20.6, 20.1, 39.6], (10, 21, 30, 60), (11, 22, 30, 60),
         {"x": 20.45, "y": 40.4, "width": 20.1, "height": 39.6}),
        ((0, 0, 0.6, 0.6), [0, 0, 0.6, 0.6], (0, 0, 1, 1), (1, 1, 1, 1),
         {"x": 0.3, "y": 0.3, "width": 0.6, "height": 0.6}),
    ],
)  # fmt: skip
def test_pixel_formats(
    box: tuple[float, ...], coco: list[float], pixels: tuple[int, ...], voc: tuple[int, ...],
    createml: dict[str, float],
) -> None:  # fmt: skip
    assert coco_bbox(box, 100, 100) == coco  # type: ignore[arg-type]
    assert pixel_box(box, 100, 100) == pixels  # type: ignore[arg-type]
    assert voc_box(box, 100, 100) == voc  # type: ignore[arg-type]
    assert createml_coordinates(box, 100, 100) == createml  # type: ignore[arg-type]


@pytest.mark.parametrize("convert", [coco_bbox, pixel_box, voc_box, createml_coordinates])
def test_pixel_formats_refuse_boxes_outside(convert: object) -> None:
    with pytest.raises(ValueError, match="outside"):
        convert((50, 50, 101, 90), 100, 100)  # type: ignore[operator]


def test_onehot_row() -> None:
    assert onehot_row("a.jpg", "sad", ("happy", "sad", "angry")) == ["a.jpg", "0", "1", "0"]
    with pytest.raises(ValueError, match="'joy' is not one of the classes"):
        onehot_row("a.jpg", "joy", ("happy", "sad"))


def test_voc_xml_escapes_and_parses() -> None:
    from xml.etree import ElementTree as ET

    from facetrove.collector.export.base import Image
    from facetrove.collector.export.voc import voc_xml

    image = Image("a&b.jpg", "train", 100, 80, ("h<s", "sad"), ((1, 2, 30, 40), (50, 0, 99, 80)))
    root = ET.fromstring(voc_xml(image, "train"))
    assert root.findtext("filename") == "a&b.jpg"
    assert [o.findtext("name") for o in root.iter("object")] == ["h<s", "sad"]
    assert [o.findtext("bndbox/xmin") for o in root.iter("object")] == ["2", "51"]
    assert root.findtext("size/height") == "80"
