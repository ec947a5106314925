"""The wire contract between facetrove agents and the collector.

This package is the only code that both sides import. It depends on the standard library and
pydantic only. See docs/protocol.md for the language-neutral description.
"""

from facetrove.wire.errors import COLLECTOR_REASONS, REASONS, WireError
from facetrove.wire.framing import (
    MAX_PAYLOAD_BYTES,
    ImageLimits,
    Sample,
    decode_sample,
    encode_sample,
    image_part,
)
from facetrove.wire.ids import derived_sample_id, new_sample_id, sample_id_time
from facetrove.wire.messages import (
    SCHEMA_VERSION,
    SELECTIONS,
    AgentConfig,
    Box,
    ImagePart,
    ModelAnnouncement,
    Prelabel,
    Quality,
    QualityOverrides,
    Receipt,
    SampleHeader,
    SamplingOverrides,
    Stats,
    Status,
    decode_json_message,
    utcnow,
)
from facetrove.wire.receipts import build_receipts, encode_receipt, peek_sample_id
from facetrove.wire.topics import Kind, check_device_id, parse_topic, subscription, topic

__all__ = [
    "COLLECTOR_REASONS",
    "MAX_PAYLOAD_BYTES",
    "REASONS",
    "SCHEMA_VERSION",
    "SELECTIONS",
    "AgentConfig",
    "Box",
    "ImageLimits",
    "ImagePart",
    "Kind",
    "ModelAnnouncement",
    "Prelabel",
    "Quality",
    "QualityOverrides",
    "Receipt",
    "Sample",
    "SampleHeader",
    "SamplingOverrides",
    "Stats",
    "Status",
    "WireError",
    "build_receipts",
    "check_device_id",
    "decode_json_message",
    "decode_sample",
    "derived_sample_id",
    "encode_receipt",
    "encode_sample",
    "image_part",
    "new_sample_id",
    "parse_topic",
    "peek_sample_id",
    "sample_id_time",
    "subscription",
    "topic",
    "utcnow",
]
