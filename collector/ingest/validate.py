"""Check one MQTT message against the wire contract, trusting nothing in it.

Order of checks for a sample: size, framing, JSON, schema (times included), topic-vs-payload
device id, declared image sizes against the caps, JPEG header dimensions and hash (all in
``wire.decode_sample``), then the crop must really decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facetrove.wire import (
    COLLECTOR_REASONS,
    ImageLimits,
    Kind,
    Sample,
    Stats,
    Status,
    WireError,
    decode_json_message,
    decode_sample,
)
from facetrove.wire.topics import parse_topic

#: Reasons on top of ``wire.REASONS`` that only the collector decides.
EXTRA_REASONS = COLLECTOR_REASONS


@dataclass(frozen=True)
class Accepted:
    """A valid sample, ready to be stored."""

    topic: str
    sample: Sample


@dataclass(frozen=True)
class DeviceUpdate:
    """A valid status or stats message for the device registry."""

    topic: str
    device_id: str
    message: Status | Stats


@dataclass(frozen=True)
class Rejected:
    """A message that breaks the contract; it is quarantined and counted by ``reason``."""

    topic: str
    device_id: str | None
    reason: str
    detail: str
    payload: bytes


Outcome = Accepted | DeviceUpdate | Rejected


def validate_message(
    topic: str, payload: bytes, max_bytes: int, limits: ImageLimits | None = None
) -> Outcome:
    """Classify one message. Never raises for bad input: a bad message becomes ``Rejected``.

    ``limits`` caps the image sizes a header may declare (default: ``wire.ImageLimits()``);
    they are checked before any image is decoded.
    """
    try:
        device_id, kind = parse_topic(topic)
    except WireError as exc:
        return Rejected(topic, None, exc.reason, exc.detail, payload)
    try:
        if kind is Kind.SAMPLE:
            sample = decode_sample(
                payload, max_bytes=max_bytes, device_id=device_id, limits=limits or ImageLimits()
            )
            if not _decodes(sample.crop):
                return Rejected(
                    topic, device_id, "undecodable", "crop JPEG does not decode", payload
                )
            if sample.frame is not None and not _decodes(sample.frame):
                return Rejected(
                    topic, device_id, "undecodable", "frame JPEG does not decode", payload
                )
            return Accepted(topic, sample)
        if kind in (Kind.STATUS, Kind.STATS):
            message = decode_json_message(kind, payload, device_id=device_id)
            assert isinstance(message, (Status, Stats))
            return DeviceUpdate(topic, device_id, message)
        return Rejected(topic, device_id, "topic", f"ingest does not take {kind.value}", payload)
    except WireError as exc:
        return Rejected(topic, device_id, exc.reason, exc.detail, payload)


def _decodes(jpeg: bytes) -> bool:
    # Reduced grayscale still runs the whole entropy decoder (so broken scans fail) at a
    # fraction of the cost of a full colour decode.
    try:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except cv2.error:
        return False
    return image is not None and image.size > 0
