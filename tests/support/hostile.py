"""Hostile messages for end-to-end ingest tests, each with the reason it must be quarantined under.

Built from real face crops (tests.support.samples). ``hostile_messages`` returns the poison the
issue tracker named (times that overflow in UTC, a decompression-bomb crop, a reused sample id)
plus a few of each other kind, so one run through a real broker shows every reason at once.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import cv2
import numpy as np

from facetrove.wire import Kind, topic
from tests.support.samples import Built, base_crops, build_sample, with_comment


@dataclass(frozen=True)
class Hostile:
    """One message to publish and what ingest must do with it."""

    name: str
    topic: str
    payload: bytes
    reason: str  # expected quarantine reason


def split(payload: bytes) -> tuple[dict[str, object], bytes]:
    """Header dict and image bytes of a framed sample."""
    (n,) = struct.unpack(">I", payload[4:8])
    return json.loads(payload[8 : 8 + n]), payload[8 + n :]


def frame(head: dict[str, object], images: bytes) -> bytes:
    """Frame a header dict and image bytes as a sample payload (no checks)."""
    raw = json.dumps(head).encode()
    return b"FTS1" + struct.pack(">I", len(raw)) + raw + images


def with_time(built: Built, captured_at: str) -> bytes:
    """The same sample with another ``captured_at`` (and nothing else changed)."""
    head, images = split(built.payload)
    return frame({**head, "captured_at": captured_at}, images)


def bomb_crop(side: int = 16384) -> bytes:
    """A tiny real JPEG whose frame header is patched to declare ``side`` x ``side`` pixels."""
    grey = np.full((8, 8), 128, np.uint8)
    ok, buf = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 10])
    assert ok
    jpeg = buf.tobytes()
    i = jpeg.index(b"\xff\xc0")
    return jpeg[: i + 5] + struct.pack(">HH", side, side) + jpeg[i + 9 :]


def bomb_sample(device: str, side: int = 16384) -> bytes:
    """A sample whose crop declares ``side`` x ``side`` (header and JPEG agree, hash right)."""
    head, _ = split(build_sample(with_comment(base_crops()[0], "bomb"), device).payload)
    crop = bomb_crop(side)
    head["crop"] = {
        "width": side,
        "height": side,
        "length": len(crop),
        "sha256": hashlib.sha256(crop).hexdigest(),
    }
    head["frame_width"] = head["frame_height"] = side
    return frame(head, crop)


def hostile_messages(device: str, original: Built, tag: str = "h") -> list[Hostile]:
    """Hostile messages from ``device``; ``original`` must be stored before they arrive
    (the id conflicts reuse its id)."""
    crops = base_crops()
    t = topic(device, Kind.SAMPLE)
    fresh = [
        build_sample(with_comment(crops[i % len(crops)], f"{tag}-{i}"), device) for i in range(8)
    ]
    other = "intruder-01"
    stolen = build_sample(original.crop, other, sample_id=original.sample_id)
    reused = build_sample(with_comment(original.crop, f"{tag}-other-bytes"), device,
                          sample_id=original.sample_id)  # fmt: skip
    sos = crops[1].index(b"\xff\xda")
    status_bad = {"device_id": device, "state": "online", "at": "9999-12-31T23:59:59-01:00"}
    return [
        Hostile("captured_at 9999-12-31T23:59:59-01:00", t,
                with_time(fresh[0], "9999-12-31T23:59:59-01:00"), "date"),
        Hostile("captured_at 0001-01-01T00:30:00+01:00", t,
                with_time(fresh[1], "0001-01-01T00:30:00+01:00"), "date"),
        Hostile("captured_at 1969-12-31T23:59:59Z", t,
                with_time(fresh[2], "1969-12-31T23:59:59Z"), "date"),
        Hostile("status at 9999-12-31T23:59:59-01:00", topic(device, Kind.STATUS),
                json.dumps(status_bad).encode(), "date"),
        Hostile("crop of 331 bytes declaring 16384x16384", t, bomb_sample(device),
                "image_too_large"),
        Hostile("crop declaring 2048x2048", t, bomb_sample(device, 2048), "image_too_large"),
        Hostile("same sample id, other crop bytes", t, reused.payload, "id_conflict"),
        Hostile("same sample id and bytes from another device", topic(other, Kind.SAMPLE),
                stolen.payload, "id_conflict"),
        Hostile("crop with no scan data", t,
                build_sample(crops[1][:sos] + b"\xff\xd9", device).payload, "undecodable"),
        Hostile("random bytes", t, b"X" + bytes(range(256)) * 3, "framing"),
        Hostile("header claims another device", topic(other, Kind.SAMPLE), fresh[3].payload,
                "device_mismatch"),
    ]  # fmt: skip
