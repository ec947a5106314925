"""The one error type that decoding hostile input may raise."""

from __future__ import annotations

#: Reasons a payload can be rejected; the collector counts and quarantines by these.
REASONS = (
    "too_large",  # payload over the size limit (checked before anything else)
    "framing",  # magic, lengths or section sizes wrong
    "json",  # header is not UTF-8 JSON object
    "schema",  # header does not validate (types, missing fields, boxes outside the frame)
    "version",  # unknown schema version
    "image",  # image bytes are not a JPEG, or its header disagrees with the declared size
    "topic",  # topic is not a facetrove topic
    "device_mismatch",  # topic device id differs from the payload's
    "date",  # a time that does not convert to UTC or lies outside 1970-01-01 .. 2100-01-01
    "image_too_large",  # a JPEG header declares more than the receiver's caps (side, pixels)
)

#: Reasons the collector adds after wire accepted a message (listed here so that one place names
#: every reason an agent author can find in a quarantine; wire itself never raises them).
COLLECTOR_REASONS = (
    "undecodable",  # the JPEG header is fine but the image does not decode
    "id_conflict",  # the sample id is already stored with other bytes or from another device
    "internal",  # validating or storing this one message raised unexpectedly (a collector bug)
)


class WireError(ValueError):
    """A payload or topic that does not follow the wire contract.

    Attributes:
        reason: one of ``REASONS``, a short machine-readable code.
    """

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise AssertionError(f"unknown wire error reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message
