"""Property-based round trips: any valid header with real JPEG bytes survives encode -> decode."""

from __future__ import annotations

import itertools
import json
import struct
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facetrove.wire import (
    SCHEMA_VERSION,
    SampleHeader,
    WireError,
    decode_sample,
    encode_sample,
    image_part,
    new_sample_id,
    sample_id_time,
)
from facetrove.wire.messages import MAX_TIME, MIN_TIME
from tests.wire.factory import CROP, header_dict, make_jpeg


@lru_cache(maxsize=512)
def jpeg(width: int, height: int, progressive: bool, subsampling: str) -> bytes:
    return make_jpeg(width, height, progressive=progressive, subsampling=subsampling, quality=70)


jpegs = st.builds(
    jpeg,
    st.integers(1, 96),
    st.integers(1, 96),
    st.booleans(),
    st.sampled_from(["444", "422", "420"]),
)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
aware_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 30), timezones=offsets
)
labels = st.text(min_size=1, max_size=64)
unit = st.floats(0.0, 1.0, allow_nan=False)
positive = st.floats(0.0, 1e12, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw: st.DrawFn, width: int, height: int) -> dict[str, int]:
    xmin = draw(st.integers(0, width - 1))
    ymin = draw(st.integers(0, height - 1))
    return {
        "xmin": xmin,
        "ymin": ymin,
        "xmax": draw(st.integers(xmin + 1, width)),
        "ymax": draw(st.integers(ymin + 1, height)),
    }


@st.composite
def prelabels(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    probs = draw(st.dictionaries(labels, unit, min_size=1, max_size=12))
    return {
        "model_id": draw(st.text(min_size=1, max_size=128)),
        "model_sha256": draw(st.text("0123456789abcdef", min_size=64, max_size=64)),
        "label": draw(st.sampled_from(sorted(probs))),
        "probs": probs,
    }


@st.composite
def samples(draw: st.DrawFn) -> tuple[SampleHeader, bytes, bytes | None]:
    crop = draw(jpegs)
    frame = draw(st.none() | jpegs)
    width = draw(st.integers(1, 16384))
    height = draw(st.integers(1, 16384))
    when = draw(aware_times)
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "sample_id": new_sample_id(when.timestamp()),
        "device_id": draw(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")),
        "captured_at": when,
        "source": draw(st.text(max_size=512)),
        "frame_width": width,
        "frame_height": height,
        "box": draw(boxes(width, height)),
        "detector": draw(st.text(min_size=1, max_size=64)),
        "detector_score": draw(unit),
        "track_id": draw(st.integers(0, 2**53)),
        "quality": {
            "blur": draw(positive),
            "brightness": draw(st.floats(0.0, 255.0)),
            "face_px": draw(st.integers(0, 16384)),
            "yaw": draw(st.none() | st.floats(-180, 180)),
        },
        "prelabel": draw(prelabels()),
        "provided_label": draw(st.none() | labels),
        "crop": image_part(crop),
        "frame": image_part(frame) if frame is not None else None,
    }
    # validate through the Python path in lax mode once, then strict JSON like the wire does
    header = SampleHeader.model_validate(data, strict=False)
    return header, crop, frame


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples())
def test_encode_decode_round_trip(sample: tuple[SampleHeader, bytes, bytes | None]) -> None:
    header, crop, frame = sample
    payload = encode_sample(header, crop, frame)
    decoded = decode_sample(payload)
    assert decoded.header == header
    assert decoded.crop == crop
    assert decoded.frame == frame
    # decoding is lossless: re-encoding gives the same bytes
    assert encode_sample(decoded.header, decoded.crop, decoded.frame) == payload
    head_len = struct.unpack(">I", payload[4:8])[0]
    assert len(payload) == 8 + head_len + len(crop) + len(frame or b"")


@settings(max_examples=200, deadline=None)
@given(aware_times)
def test_sample_id_time_round_trip(when: datetime) -> None:
    got = sample_id_time(new_sample_id(when.timestamp()))
    assert abs(got - when) < timedelta(milliseconds=1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 253_402_300_799, allow_nan=False), min_size=2, max_size=20))
def test_ids_order_follows_time(times: list[float]) -> None:
    ids = [new_sample_id(t) for t in times]
    by_ms = sorted(range(len(times)), key=lambda i: int(times[i] * 1000))
    ordered = [ids[i] for i in by_ms]
    # ids of different milliseconds sort like their times
    for a, b in itertools.pairwise(ordered):
        if sample_id_time(a) != sample_id_time(b):
            assert a < b


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=offsets))
def test_any_capture_time_decodes_or_is_a_date_error(when: datetime) -> None:
    """Every representable time with any offset: accepted inside the range, else ``date``;
    never another exception (a year-9999 time with a negative offset once overflowed)."""
    head = json.dumps(header_dict(CROP, captured_at=when.isoformat())).encode()
    payload = b"FTS1" + struct.pack(">I", len(head)) + head + CROP
    try:
        utc = when.astimezone(timezone.utc)
    except OverflowError:
        utc = None
    try:
        decoded = decode_sample(payload)
    except WireError as exc:
        assert exc.reason == "date", exc
        assert utc is None or not MIN_TIME <= utc < MAX_TIME
    else:
        assert utc is not None and MIN_TIME <= utc < MAX_TIME
        assert decoded.header.captured_at == when
