"""MQTT topics: the only place where topic strings are built and parsed.

Layout: ``facetrove/v1/<device_id>/<kind>``.
"""

from __future__ import annotations

import re
from enum import Enum

from facetrove.wire.errors import WireError

ROOT = "facetrove/v1"
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Kind(str, Enum):
    """What a topic carries, its direction, QoS and retain flag (see docs/protocol.md)."""

    SAMPLE = "sample"  # agent -> collector, QoS 1, not retained
    STATUS = "status"  # agent -> collector, QoS 1, retained, last will "offline"
    STATS = "stats"  # agent -> collector, QoS 0, not retained, periodic
    CONFIG = "config"  # collector -> agent, QoS 1, retained
    MODEL = "model"  # collector -> agent, QoS 1, retained
    RECEIPT = "receipt"  # collector -> agent, QoS 1, not retained: samples durably stored

    @property
    def qos(self) -> int:
        return 0 if self is Kind.STATS else 1

    @property
    def retain(self) -> bool:
        return self in (Kind.STATUS, Kind.CONFIG, Kind.MODEL)


def check_device_id(device_id: str) -> str:
    """Return ``device_id`` if it is valid, else raise ``ValueError`` naming the rule."""
    if not DEVICE_ID_RE.match(device_id):
        raise ValueError(
            f"invalid device id {device_id!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return device_id


def topic(device_id: str, kind: Kind) -> str:
    """Build the topic for one device and message kind."""
    return f"{ROOT}/{check_device_id(device_id)}/{Kind(kind).value}"


def subscription(kind: Kind, shared_group: str | None = None) -> str:
    """Topic filter for ``kind`` from every device, optionally as an MQTT shared subscription."""
    flt = f"{ROOT}/+/{Kind(kind).value}"
    if shared_group:
        if not DEVICE_ID_RE.match(shared_group):
            raise ValueError(f"invalid shared subscription group {shared_group!r}")
        return f"$share/{shared_group}/{flt}"
    return flt


def parse_topic(name: str) -> tuple[str, Kind]:
    """Split a topic into ``(device_id, kind)``.

    Raises:
        WireError: with reason ``topic`` if it is not a facetrove v1 topic.
    """
    parts = name.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise WireError("topic", f"not a {ROOT}/<device>/<kind> topic: {name[:120]!r}")
    device_id, kind = parts[2], parts[3]
    if not DEVICE_ID_RE.match(device_id):
        raise WireError("topic", f"invalid device id in topic: {device_id[:80]!r}")
    try:
        return device_id, Kind(kind)
    except ValueError:
        raise WireError("topic", f"unknown message kind {kind[:40]!r}") from None
