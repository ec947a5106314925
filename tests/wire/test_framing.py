"""Binary framing: round trips, and every documented error reason reachable with a clear message."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from facetrove.wire import (
    MAX_PAYLOAD_BYTES,
    REASONS,
    WireError,
    decode_sample,
    encode_sample,
    image_part,
    parse_topic,
    topic,
)
from facetrove.wire.framing import MAGIC, MAX_HEADER_BYTES
from tests.wire.factory import CROP, FRAME, header_dict, make_jpeg, valid_header, valid_payload


def frame_raw(
    head: bytes, *images: bytes, magic: bytes = MAGIC, length: int | None = None
) -> bytes:
    """Assemble a payload by hand, optionally with a lying header length."""
    n = len(head) if length is None else length
    return magic + struct.pack(">I", n) + head + b"".join(images)


def head_json(**changes: object) -> bytes:
    return json.dumps(header_dict(**changes)).encode()


def test_round_trip_without_frame() -> None:
    header = valid_header()
    payload = encode_sample(header, CROP)
    assert payload[:4] == b"FTS1"
    head_len = struct.unpack(">I", payload[4:8])[0]
    assert len(payload) == 8 + head_len + len(CROP)
    sample = decode_sample(payload)
    assert sample.header == header
    assert sample.crop == CROP
    assert sample.frame is None


def test_round_trip_with_frame() -> None:
    header = valid_header(CROP, FRAME)
    sample = decode_sample(encode_sample(header, CROP, FRAME))
    assert sample.header == header
    assert (sample.crop, sample.frame) == (CROP, FRAME)
    assert sample.header.frame is not None
    assert (sample.header.frame.width, sample.header.frame.height) == (320, 240)


def test_round_trip_with_a_real_face_photo(faces_dir: Path) -> None:
    """A real camera photo as the frame: its own JPEG header is read, its hash checked."""
    photo = (faces_dir / "single_face.jpg").read_bytes()
    part = image_part(photo)
    header = valid_header(
        CROP,
        photo,
        frame_width=part.width,
        frame_height=part.height,
        box={"xmin": 0, "ymin": 0, "xmax": min(part.width, 50), "ymax": min(part.height, 50)},
    )
    sample = decode_sample(encode_sample(header, CROP, photo))
    assert sample.frame == photo


def test_header_omits_nulls_and_accepts_memoryview() -> None:
    payload = encode_sample(valid_header(prelabel=None), CROP)
    assert b"null" not in payload[: 8 + struct.unpack(">I", payload[4:8])[0]]
    assert decode_sample(memoryview(payload)).header.prelabel is None  # type: ignore[arg-type]
    assert decode_sample(bytearray(payload)).crop == CROP  # type: ignore[arg-type]


def test_verify_hash_can_be_skipped() -> None:
    head = head_json(crop=dict(image_part(CROP).model_dump(), sha256="0" * 64))
    with pytest.raises(WireError, match="crop sha256 does not match"):
        decode_sample(frame_raw(head, CROP))
    assert decode_sample(frame_raw(head, CROP), verify_hash=False).crop == CROP


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: encode_sample(valid_header(), CROP + b"x"), "do not match the bytes"),
        (lambda: encode_sample(valid_header(), CROP, FRAME), "do not match the bytes"),
        (lambda: encode_sample(valid_header(CROP, FRAME), CROP), "do not match the bytes"),
        (lambda: encode_sample(valid_header(CROP, FRAME), CROP, FRAME[:-1]), "frame length"),
    ],
)
def test_encode_refuses_inconsistent_input(call: Callable[[], bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_encode_refuses_oversize_header() -> None:
    """model_copy skips validation, so an over-long header can only come from a bug: refused."""
    huge = valid_header().model_copy(update={"source": "s" * MAX_HEADER_BYTES})
    with pytest.raises(ValueError, match="over the 32768-byte limit"):
        encode_sample(huge, CROP)


GOOD = valid_payload()
GOOD_HEAD = head_json()
OTHER = make_jpeg(64, 48, seed=9)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60

# (id, payload, reason, words the message must contain)
ERRORS: list[tuple[str, object, str, str]] = [
    ("too-large", b"FTS1" + b"\x00" * MAX_PAYLOAD_BYTES, "too_large", "> limit of 4194304"),
    ("not-bytes", "FTS1 text", "framing", "payload must be bytes, not str"),
    ("none", None, "framing", "payload must be bytes, not NoneType"),
    ("empty", b"", "framing", "shorter than the 8-byte prefix"),
    ("short", b"FTS1\x00\x00", "framing", "shorter than the 8-byte prefix"),
    ("bad-magic", b"FTS2" + GOOD[4:], "framing", "bad magic b'FTS2'"),
    ("jpeg-not-sample", CROP, "framing", "bad magic"),
    ("zero-header", frame_raw(b"", CROP), "framing", "header length 0 not in 1..32768"),
    ("huge-header", frame_raw(GOOD_HEAD, CROP, length=2**32 - 1), "framing", "not in 1..32768"),
    ("header-past-end", frame_raw(GOOD_HEAD[:100], length=200), "framing", "runs past the payload"),
    ("crop-truncated", GOOD[:-10], "framing", "declared sections end at byte"),
    ("trailing-bytes", GOOD + b"\x00", "framing", "declared sections end at byte"),
    (
        "frame-missing",
        frame_raw(head_json(frame=image_part(FRAME).model_dump()), CROP),
        "framing",
        "declared sections end",
    ),
    (
        "length-lies-short",
        frame_raw(GOOD_HEAD, CROP, length=len(GOOD_HEAD) - 5),
        "json",
        "not UTF-8 JSON",
    ),
    ("bad-utf8", frame_raw(b'{"a": "\xff"}', CROP), "json", "not UTF-8 JSON"),
    ("not-json", frame_raw(b"hello", CROP), "json", "not UTF-8 JSON"),
    ("json-array", frame_raw(b"[1, 2]", CROP), "json", "must be a JSON object, not list"),
    ("json-string", frame_raw(b'"x"', CROP), "json", "must be a JSON object, not str"),
    ("deep-nesting", frame_raw(b"[" * 16000 + b"]" * 16000, CROP), "json", "recursion"),
    ("bom", frame_raw(b"\xef\xbb\xbf" + GOOD_HEAD, CROP), "json", "BOM"),
    ("lone-surrogate", frame_raw(head_json(source="\ud800"), CROP), "json", "Invalid JSON"),
    (
        "no-version",
        frame_raw(head_json(schema_version=None), CROP),
        "version",
        "schema_version None is not 1",
    ),
    (
        "version-2",
        frame_raw(head_json(schema_version=2), CROP),
        "version",
        "schema_version 2 is not 1",
    ),
    ("version-str", frame_raw(head_json(schema_version="1"), CROP), "version", "'1' is not 1"),
    ("version-true", frame_raw(head_json(schema_version=True), CROP), "version", "True is not 1"),
    (
        "version-float",
        frame_raw(head_json(schema_version=1.0), CROP),
        "schema",
        "schema_version: Input should be a valid integer",
    ),
    ("missing-field", frame_raw(head_json(detector=None), CROP), "schema", "detector"),
    (
        "width-as-string",
        frame_raw(head_json(frame_width="640"), CROP),
        "schema",
        "frame_width: Input should be a valid integer",
    ),
    (
        "negative-box",
        frame_raw(head_json(box={"xmin": -1, "ymin": 0, "xmax": 9, "ymax": 9}), CROP),
        "schema",
        "box.xmin",
    ),
    (
        "box-outside",
        frame_raw(head_json(box={"xmin": 600, "ymin": 0, "xmax": 700, "ymax": 9}), CROP),
        "schema",
        "outside the 640x480 frame",
    ),
    (
        "naive-time",
        frame_raw(head_json(captured_at="2026-11-24T10:00:00"), CROP),
        "schema",
        "captured_at: Input should have timezone info",
    ),
    (
        "time-overflows-utc",
        frame_raw(head_json(captured_at="9999-12-31T23:59:59-01:00"), CROP),
        "date",
        "captured_at: 9999-12-31T23:59:59-01:00 in UTC is not between 1970-01-01 and 2100-01-01",
    ),
    (
        "crop-over-cap",
        frame_raw(
            head_json(
                crop=dict(image_part(CROP).model_dump(), width=4096, height=4096),
                frame_width=4096,
                frame_height=4096,
            ),
            CROP,
        ),
        "image_too_large",
        "crop 4096x4096 has a side over 1024",
    ),
    (
        "crop-not-jpeg",
        frame_raw(head_json(crop=dict(image_part(CROP).model_dump(), length=len(PNG))), PNG),
        "image",
        "crop: not a JPEG",
    ),
    (
        "crop-wrong-size",
        frame_raw(head_json(crop=dict(image_part(CROP).model_dump(), width=49)), CROP),
        "image",
        "crop JPEG is 48x64 but the header says 49x64",
    ),
    (
        "crop-swapped",
        frame_raw(head_json(crop=dict(image_part(CROP).model_dump(), length=len(OTHER))), OTHER),
        "image",
        "crop JPEG is 64x48 but the header says 48x64",
    ),
    (
        "crop-hash",
        frame_raw(head_json(crop=dict(image_part(CROP).model_dump(), sha256="f" * 64)), CROP),
        "image",
        "crop sha256 does not match",
    ),
    (
        "frame-wrong-size",
        frame_raw(head_json(frame=dict(image_part(FRAME).model_dump(), height=241)), CROP, FRAME),
        "image",
        "frame JPEG is 320x240 but the header says 320x241",
    ),
    (
        "frame-hash",
        frame_raw(
            head_json(frame=dict(image_part(FRAME).model_dump(), sha256="e" * 64)), CROP, FRAME
        ),
        "image",
        "frame sha256 does not match",
    ),
]


@pytest.mark.parametrize(
    ("payload", "reason", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_decode_errors(payload: bytes, reason: str, words: str) -> None:
    """Each hostile payload raises WireError with the documented reason; nothing else escapes."""
    with pytest.raises(WireError) as info:
        decode_sample(payload)
    assert info.value.reason == reason, str(info.value)
    assert words in str(info.value)
    assert str(info.value) == f"{reason}: {info.value.detail}"


def test_size_limit_is_checked_before_anything_else() -> None:
    """A payload over a lowered limit is refused as too_large even when it is valid."""
    with pytest.raises(WireError) as info:
        decode_sample(GOOD, max_bytes=len(GOOD) - 1)
    assert info.value.reason == "too_large"
    assert decode_sample(GOOD, max_bytes=len(GOOD)).crop == CROP


def test_device_mismatch_between_topic_and_payload() -> None:
    device, _ = parse_topic(topic("pi-kitchen.01", "sample"))  # type: ignore[arg-type]
    assert decode_sample(GOOD, device_id=device).header.device_id == device
    with pytest.raises(WireError) as info:
        decode_sample(GOOD, device_id="pi-garage")
    assert info.value.reason == "device_mismatch"
    assert "'pi-garage' differs from payload device 'pi-kitchen.01'" in str(info.value)


def test_every_reason_is_reachable() -> None:
    """Each code in REASONS is produced by some input in this module's tables."""
    seen = {reason for _, _, reason, _ in ERRORS} | {"device_mismatch"}
    with pytest.raises(WireError) as info:
        parse_topic("not/a/topic")
    seen.add(info.value.reason)
    assert seen == set(REASONS)


def test_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(AssertionError):
        WireError("nope", "x")


def test_sha256_in_header_is_the_hash_of_the_bytes() -> None:
    part = image_part(CROP)
    assert part.sha256 == hashlib.sha256(CROP).hexdigest()
    assert (part.width, part.height, part.length) == (48, 64, len(CROP))
    with pytest.raises(WireError, match=r"^image: not a JPEG"):
        image_part(PNG)
