"""Builders for wire tests: real JPEGs made with OpenCV and valid sample headers."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import cv2
import numpy as np

from facetrove.wire import SCHEMA_VERSION, SampleHeader, encode_sample, image_part, new_sample_id

SUBSAMPLINGS = {
    "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    "411": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411,
    "440": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440,
}


def make_jpeg(
    width: int,
    height: int,
    *,
    quality: int = 85,
    subsampling: str = "420",
    progressive: bool = False,
    grey: bool = False,
    seed: int = 0,
) -> bytes:
    """Encode a noisy gradient image of the given size with OpenCV's libjpeg."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    base = np.repeat(ramp, height, axis=0)
    noise = rng.normal(0, 20, (height, width)).astype(np.float32)
    grey_img = np.clip(base + noise, 0, 255).astype(np.uint8)
    img = grey_img if grey else cv2.merge([grey_img, grey_img[::-1], 255 - grey_img])
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_PROGRESSIVE,
        int(progressive),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        SUBSAMPLINGS[subsampling],
    ]
    ok, buf = cv2.imencode(".jpg", img, params)
    assert ok
    return bytes(buf.tobytes())


CROP = make_jpeg(48, 64, seed=1)
FRAME = make_jpeg(320, 240, seed=2)


def header_dict(
    crop: bytes = CROP, frame: bytes | None = None, /, **changes: Any
) -> dict[str, Any]:
    """A valid header as JSON-ready data; ``changes`` replace top-level fields (None drops)."""
    head: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "sample_id": new_sample_id(1_700_000_000.0),
        "device_id": "pi-kitchen.01",
        "captured_at": "2026-11-24T10:00:00.250000Z",
        "source": "camera:0",
        "frame_width": 640,
        "frame_height": 480,
        "box": {"xmin": 100, "ymin": 80, "xmax": 196, "ymax": 208},
        "detector": "blazeface-short",
        "detector_score": 0.93,
        "track_id": 7,
        "quality": {"blur": 153.2, "brightness": 118.5, "face_px": 96},
        "prelabel": {
            "model_id": "fer-mini-xception-1",
            "model_sha256": "ab" * 32,
            "label": "happy",
            "probs": {"happy": 0.8, "neutral": 0.15, "sad": 0.05},
        },
        "crop": image_part(crop).model_dump(),
    }
    if frame is not None:
        head["frame"] = image_part(frame).model_dump()
    head.update(changes)
    return {key: value for key, value in head.items() if value is not None}


def valid_header(crop: bytes = CROP, frame: bytes | None = None, /, **changes: Any) -> SampleHeader:
    """A validated SampleHeader describing ``crop`` (and ``frame``)."""
    return SampleHeader.model_validate_json(json.dumps(header_dict(crop, frame, **changes)))


def valid_payload(crop: bytes = CROP, frame: bytes | None = None) -> bytes:
    """A complete, valid sample payload."""
    return encode_sample(valid_header(crop, frame), crop, frame)


UTC = timezone.utc
WHEN = datetime(2026, 11, 24, 10, 0, 0, 250000, tzinfo=UTC)
