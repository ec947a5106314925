"""Small pure converters from a pixel box ``(xmin, ymin, xmax, ymax)`` to each format's numbers.

Every converter checks its input and raises ``ValueError`` with the offending values: a box
outside its image or with no area is a bug upstream and must not reach a dataset silently.
"""

from __future__ import annotations

Box = tuple[float, float, float, float]

#: boxes may poke this far past the image edge through float rounding
TOLERANCE = 0.5


def check_box(box: Box, width: int, height: int) -> None:
    """Raise ValueError unless ``box`` has area and lies inside a ``width`` x ``height`` image."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box {box} has no area (need xmin < xmax and ymin < ymax)")
    if x0 < -TOLERANCE or y0 < -TOLERANCE or x1 > width + TOLERANCE or y1 > height + TOLERANCE:
        raise ValueError(f"box {box} lies outside the {width}x{height} image")


def _clamped(box: Box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    return (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))


def yolo_line(box: Box, class_id: int, width: int, height: int) -> str:
    """``class cx cy w h``, normalised to 0..1 with six decimals (YOLO label files)."""
    if class_id < 0:
        raise ValueError(f"class id must be >= 0, got {class_id}")
    check_box(box, width, height)
    x0, y0, x1, y1 = _clamped(box, width, height)
    cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
    w, h = (x1 - x0) / width, (y1 - y0) / height
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def coco_bbox(box: Box, width: int, height: int) -> list[float]:
    """COCO ``[x, y, width, height]`` in pixels from the top-left, two decimals."""
    check_box(box, width, height)
    x0, y0, x1, y1 = _clamped(box, width, height)
    return [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]


def pixel_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Whole-pixel ``xmin, ymin, xmax, ymax`` from 0 (TensorFlow object detection CSV)."""
    check_box(box, width, height)
    x0, y0, x1, y1 = _clamped(box, width, height)
    xmin, ymin = round(x0), round(y0)
    return xmin, ymin, max(round(x1), xmin + 1), max(round(y1), ymin + 1)


def voc_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Pascal VOC ``xmin, ymin, xmax, ymax``: pixel indices from 1, so xmin/ymin shift by one."""
    xmin, ymin, xmax, ymax = pixel_box(box, width, height)
    return xmin + 1, ymin + 1, max(xmax, xmin + 1), max(ymax, ymin + 1)


def createml_coordinates(box: Box, width: int, height: int) -> dict[str, float]:
    """CreateML ``{x, y, width, height}``: the box centre and size in pixels."""
    check_box(box, width, height)
    x0, y0, x1, y1 = _clamped(box, width, height)
    return {
        "x": round((x0 + x1) / 2, 2),
        "y": round((y0 + y1) / 2, 2),
        "width": round(x1 - x0, 2),
        "height": round(y1 - y0, 2),
    }
