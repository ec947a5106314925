"""Hostile dates and oversized image headers are refused by wire with their own reasons.

Tried: capture times that overflow when converted to UTC (issue 9: they passed validation and
killed the writer), times outside 1970-2099, the same in status/stats; crops and frames whose
JPEG header declares more pixels than the caps (a 795-byte crop declaring 16384x16384 was stored).
Kept: nothing; each is a ``WireError`` with reason ``date`` or ``image_too_large``.
"""

from __future__ import annotations

import json
import struct

import pytest

from facetrove.wire import (
    COLLECTOR_REASONS,
    REASONS,
    ImageLimits,
    Kind,
    WireError,
    decode_json_message,
    decode_sample,
    encode_sample,
    image_part,
)
from facetrove.wire.messages import MAX_TIME, MIN_TIME
from tests.wire.factory import CROP, FRAME, header_dict, make_jpeg, valid_header

POISON_DATES = [
    "9999-12-31T23:59:59-01:00",  # year 10000 in UTC: OverflowError in astimezone
    "0001-01-01T00:30:00+01:00",  # year 0 in UTC
    "9999-12-31T23:59:59.999999+00:00",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2099-12-31T23:30:00-01:00",  # 2100-01-01T00:30Z
]


def _payload(head: dict[str, object], *images: bytes) -> bytes:
    raw = json.dumps(head).encode()
    return b"FTS1" + struct.pack(">I", len(raw)) + raw + b"".join(images)


@pytest.mark.parametrize("when", POISON_DATES)
def test_capture_time_outside_the_sane_range_is_a_date_error(when: str) -> None:
    with pytest.raises(WireError) as info:
        decode_sample(_payload(header_dict(captured_at=when), CROP))
    assert info.value.reason == "date", str(info.value)
    assert "captured_at" in info.value.detail
    assert "1970-01-01" in info.value.detail and "2100-01-01" in info.value.detail


@pytest.mark.parametrize(
    "when",
    ["1970-01-01T00:00:00Z", "1970-01-01T05:00:00+05:00", "2099-12-31T23:59:59.999Z"],
)
def test_capture_time_at_the_edges_is_accepted(when: str) -> None:
    sample = decode_sample(_payload(header_dict(captured_at=when), CROP))
    assert MIN_TIME <= sample.header.captured_at < MAX_TIME


def test_a_date_error_beside_another_schema_error_is_schema() -> None:
    head = header_dict(captured_at=POISON_DATES[0], detector_score=2.0)
    with pytest.raises(WireError) as info:
        decode_sample(_payload(head, CROP))
    assert info.value.reason == "schema"
    assert "captured_at" in info.value.detail and "detector_score" in info.value.detail


@pytest.mark.parametrize("kind", [Kind.STATUS, Kind.STATS])
@pytest.mark.parametrize("when", POISON_DATES[:2])
def test_status_and_stats_times_are_checked_too(kind: Kind, when: str) -> None:
    body: dict[str, object] = {"device_id": "cam", "at": when}
    if kind is Kind.STATUS:
        body["state"] = "online"
    else:
        body.update(
            uptime_s=1.0,
            fps=1.0,
            frames=1,
            faces=1,
            samples_accepted=1,
            samples_sent=1,
            outbox_depth=0,
            outbox_bytes=0,
            outbox_dropped=0,
        )
    with pytest.raises(WireError) as info:
        decode_json_message(kind, json.dumps(body).encode(), device_id="cam")
    assert info.value.reason == "date"


def _declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """The same bytes with the SOF0 header patched to declare another size."""
    i = jpeg.index(b"\xff\xc0")
    return jpeg[: i + 5] + struct.pack(">HH", height, width) + jpeg[i + 9 :]


def test_a_tiny_crop_declaring_16384_squared_is_refused_before_decoding() -> None:
    tiny = make_jpeg(8, 8, quality=10, grey=True)
    bomb = _declaring(tiny, 16384, 16384)
    assert len(bomb) < 800
    header = valid_header(bomb, None, box={"xmin": 0, "ymin": 0, "xmax": 8, "ymax": 8})
    with pytest.raises(WireError) as info:
        decode_sample(encode_sample(header, bomb))
    assert info.value.reason == "image_too_large"
    assert "crop" in info.value.detail and "16384x16384" in info.value.detail


@pytest.mark.parametrize(
    ("limits", "crop", "frame", "words"),
    [
        (ImageLimits(crop_max_side=47), CROP, None, "crop 48x64 has a side over 47"),
        (ImageLimits(crop_max_pixels=48 * 64 - 1), CROP, None, "crop 48x64 is 3,072 pixels"),
        (ImageLimits(frame_max_side=319), CROP, FRAME, "frame 320x240 has a side over 319"),
        (ImageLimits(frame_max_pixels=320 * 240 - 1), CROP, FRAME, "frame 320x240 is 76,800"),
    ],
)
def test_caps_are_configurable(
    limits: ImageLimits, crop: bytes, frame: bytes | None, words: str
) -> None:
    payload = encode_sample(valid_header(crop, frame), crop, frame)
    assert decode_sample(payload).crop == crop  # the defaults take it
    with pytest.raises(WireError) as info:
        decode_sample(payload, limits=limits)
    assert info.value.reason == "image_too_large"
    assert words in info.value.detail


def test_caps_are_checked_before_the_hash() -> None:
    """A capped image is refused on its declared size alone, whatever its bytes."""
    head = header_dict(CROP)
    head["crop"] = {**image_part(CROP).model_dump(), "width": 2000, "height": 2000}
    head["frame_width"] = head["frame_height"] = 4000
    with pytest.raises(WireError) as info:
        decode_sample(_payload(head, CROP))
    assert info.value.reason == "image_too_large"


def test_new_reasons_are_listed() -> None:
    assert {"date", "image_too_large"} <= set(REASONS)
    assert {"id_conflict", "undecodable", "internal"} <= set(COLLECTOR_REASONS)
    assert not set(REASONS) & set(COLLECTOR_REASONS)
