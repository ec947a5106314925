"""``--preview``: a window with face boxes, track ids and pre-labels, where a display exists."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from facetrove.agent.capture.source import Frame

log = logging.getLogger(__name__)
WINDOW = "facetrove agent (q to close)"
NO_GUI = (
    "preview needs a GUI build of OpenCV (the agent installs opencv-python-headless, which has "
    "no windows); continuing without preview. To get one: pip install opencv-python==4.* in "
    "place of opencv-python-headless"
)


def display_available() -> bool:
    """A display to open a window on: always on Windows/macOS, DISPLAY/WAYLAND on Linux."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Preview:
    """Draws faces on each frame; ``show`` returns False once the window was closed.

    Boxes come from ``pipeline.overlay()`` when the pipeline offers it (every tracked face);
    otherwise the boxes of the samples sent in the last second are drawn, with their track id
    and pre-label.
    """

    def __init__(self) -> None:
        self._recent: list[tuple[float, dict[str, Any]]] = []

    def show(self, frame: Frame, pipeline: Any, ready: Sequence[Any] = ()) -> bool:
        """Draw and show one frame; False when the user closed the window (q or Esc)."""
        cv2.imshow(WINDOW, self.draw(frame, pipeline, ready))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            cv2.destroyWindow(WINDOW)
            return False
        return True

    def draw(self, frame: Frame, pipeline: Any, ready: Sequence[Any] = ()) -> np.ndarray:
        """A copy of the frame with boxes, track ids and labels drawn on it."""
        image = frame.image.copy()
        now = frame.captured_at.timestamp()
        for item in ready:
            h = item.header
            label = h.prelabel.label if h.prelabel else h.provided_label
            box = (h.box.xmin, h.box.ymin, h.box.xmax, h.box.ymax)
            self._recent.append((now + 1.0, {"box": box, "track_id": h.track_id, "label": label}))
        self._recent = [(t, f) for t, f in self._recent if t >= now]
        overlay = getattr(pipeline, "overlay", None)
        faces = overlay() if callable(overlay) else [f for _, f in self._recent]
        for face in faces:
            x0, y0, x1, y1 = (int(v) for v in face["box"])
            cv2.rectangle(image, (x0, y0), (x1, y1), (0, 200, 0), 2)
            text = f"#{face.get('track_id', '?')} {face.get('label') or ''}".strip()
            cv2.putText(
                image, text, (x0, max(12, y0 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1
            )
        return image


def open_preview() -> Preview | None:
    """A preview window, or None (with a clear message) when there is no display or no GUI."""
    if not display_available():
        log.warning("preview needs a display (DISPLAY is not set); continuing without preview")
        return None
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        log.warning("%s", NO_GUI)
        return None
    return Preview()
