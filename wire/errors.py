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
