"""Message models: strict types, unknown fields ignored, boxes inside the frame, aware datetimes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from facetrove.wire import (
    AgentConfig,
    Box,
    ImagePart,
    Kind,
    ModelAnnouncement,
    Prelabel,
    Quality,
    QualityOverrides,
    SampleHeader,
    SamplingOverrides,
    Stats,
    Status,
    WireError,
    decode_json_message,
    utcnow,
)
from facetrove.wire.messages import MAX_JSON_BYTES
from tests.wire.factory import header_dict

SHA = "0123456789abcdef" * 4

VALID: dict[type[BaseModel], dict[str, Any]] = {
    Box: {"xmin": 0, "ymin": 1, "xmax": 10, "ymax": 12},
    Quality: {"blur": 88.5, "brightness": 120.0, "face_px": 64, "yaw": -12.5},
    Prelabel: {
        "model_id": "fer-1",
        "model_sha256": SHA,
        "label": "sad",
        "probs": {"sad": 0.7, "angry": 0.3},
    },
    ImagePart: {"width": 160, "height": 160, "length": 5120, "sha256": SHA},
    SampleHeader: header_dict(),
    Status: {
        "device_id": "cam-1",
        "state": "online",
        "at": "2026-11-24T10:00:00+01:00",
        "software": "facetrove 0.1.0",
        "model_id": "fer-1",
        "detector": "blazeface-short",
        "source": "camera:0",
    },
    Stats: {
        "device_id": "cam-1",
        "at": "2026-11-24T10:00:00Z",
        "uptime_s": 3600.5,
        "fps": 14.9,
        "frames": 53640,
        "faces": 1200,
        "samples_accepted": 300,
        "samples_sent": 298,
        "outbox_depth": 2,
        "outbox_bytes": 40960,
        "outbox_dropped": 0,
        "drops": {"blur": 400, "rate": 500},
        "model_id": "fer-1",
        "paused": False,
        "config_revision": 3,
    },
    SamplingOverrides: {
        "max_per_track": 3,
        "track_window_s": 30.0,
        "per_minute": 20,
        "per_hour": 600,
        "per_day": 5000,
        "traffic_percent": 50.0,
        "prefer_uncertain": True,
    },
    QualityOverrides: {
        "min_blur": 40.0,
        "min_brightness": 30.0,
        "max_brightness": 230.0,
        "min_face_px": 48,
        "max_abs_yaw": 45.0,
    },
    AgentConfig: {
        "revision": 4,
        "paused": True,
        "sampling": {"per_minute": 10},
        "quality": {"min_face_px": 40},
        "class_targets": {"happy": 0.5, "disgust": 3.0},
    },
    ModelAnnouncement: {
        "model_id": "fer-2",
        "sha256": SHA,
        "url": "http://collector.local:8080/models/fer-2.onnx",
        "size": 250_000,
        "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
    },
}
MODELS = list(VALID)
JSON_KINDS = {Status: Kind.STATUS, Stats: Kind.STATS, AgentConfig: Kind.CONFIG}
JSON_KINDS[ModelAnnouncement] = Kind.MODEL


def _leaves(obj: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _leaves(value, (*path, str(i)))
    else:
        yield path, obj


def _with(obj: Any, path: tuple[str, ...], value: Any) -> Any:
    obj = json.loads(json.dumps(obj))
    target = obj
    for key in path[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(path[-1])] = value
    else:
        target[path[-1]] = value
    return obj


def _without(obj: Any, path: tuple[str, ...]) -> Any:
    obj = json.loads(json.dumps(obj))
    target = obj
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return obj


def _validate(model: type[BaseModel], data: Any) -> BaseModel:
    return model.model_validate_json(json.dumps(data))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_valid_example_round_trips(model: type[BaseModel]) -> None:
    msg = _validate(model, VALID[model])
    again = model.model_validate_json(msg.model_dump_json())
    assert again == msg


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_unknown_fields_are_ignored(model: type[BaseModel]) -> None:
    data = dict(VALID[model], added_by_a_newer_agent={"nested": [1, 2]}, zz=1)
    msg = _validate(model, data)
    assert msg == _validate(model, VALID[model])
    assert "added_by_a_newer_agent" not in msg.model_dump_json()


def _type_swaps() -> Iterator[Any]:
    for model in MODELS:
        for path, value in _leaves(VALID[model]):
            if isinstance(value, bool):
                yield pytest.param(model, path, "true", id=f"{model.__name__}.{'.'.join(path)}=str")
                yield pytest.param(model, path, 1, id=f"{model.__name__}.{'.'.join(path)}=1")
            elif isinstance(value, (int, float)):
                text = str(value)
                yield pytest.param(model, path, text, id=f"{model.__name__}.{'.'.join(path)}=str")
                if isinstance(value, int):
                    yield pytest.param(
                        model, path, value + 0.5, id=f"{model.__name__}.{'.'.join(path)}=float"
                    )
            elif isinstance(value, str) and not path[-1].endswith("_at") and path[-1] != "at":
                yield pytest.param(model, path, 7, id=f"{model.__name__}.{'.'.join(path)}=int")


@pytest.mark.parametrize(("model", "path", "wrong"), list(_type_swaps()))
def test_wrong_types_are_refused(model: type[BaseModel], path: tuple[str, ...], wrong: Any) -> None:
    """Strict: "12" is not a number, 1 is not true, 3.5 is not an int, 7 is not a string."""
    with pytest.raises(ValidationError) as info:
        _validate(model, _with(VALID[model], path, wrong))
    assert path[-1] in str(info.value) or path[-2] in str(info.value)


def _required() -> Iterator[Any]:
    for model in MODELS:
        for name, field in model.model_fields.items():
            if field.is_required():
                yield pytest.param(model, name, id=f"{model.__name__}.{name}")


@pytest.mark.parametrize(("model", "name"), list(_required()))
def test_missing_required_fields_are_named(model: type[BaseModel], name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        _validate(model, _without(VALID[model], (name,)))


BAD_VALUES = [
    # (model, path, value, words in the message)
    (Box, ("xmin",), -1, "greater than or equal to 0"),
    (Box, ("xmax",), 0, "greater than 0"),
    (Box, ("xmax",), 0, "xmax"),
    (Box, ("xmin",), 10, "xmin < xmax"),
    (Box, ("ymax",), 1, "ymin < ymax"),
    (Quality, ("brightness",), 256.0, "less than or equal to 255"),
    (Quality, ("blur",), -0.1, "greater than or equal to 0"),
    (Quality, ("face_px",), -5, "greater than or equal to 0"),
    (Prelabel, ("label",), "happy", "label must be one of the keys of probs"),
    (Prelabel, ("model_sha256",), "AB" * 32, "should match pattern"),
    (Prelabel, ("model_sha256",), "ab" * 31, "should match pattern"),
    (Prelabel, ("probs",), {}, "at least 1 item"),
    (Prelabel, ("probs", "sad"), 1.5, "less than or equal to 1"),
    (Prelabel, ("probs", "sad"), -0.2, "greater than or equal to 0"),
    (Prelabel, ("model_id",), "", "at least 1 character"),
    (ImagePart, ("width",), 0, "greater than or equal to 1"),
    (ImagePart, ("height",), 16385, "less than or equal to 16384"),
    (ImagePart, ("length",), 3, "greater than or equal to 4"),
    (SampleHeader, ("sample_id",), "not-an-id", "should match pattern"),
    (SampleHeader, ("device_id",), "bad/id", "should match pattern"),
    (SampleHeader, ("captured_at",), "2026-11-24T10:00:00", "timezone"),
    (SampleHeader, ("captured_at",), "yesterday", "valid datetime"),
    (SampleHeader, ("captured_at",), 1_700_000_000, "valid datetime"),
    (SampleHeader, ("detector_score",), 1.01, "less than or equal to 1"),
    (SampleHeader, ("track_id",), -1, "greater than or equal to 0"),
    (SampleHeader, ("track_id",), 2**64, "less than or equal to"),
    (SampleHeader, ("frame_width",), 0, "greater than or equal to 1"),
    (SampleHeader, ("source",), "s" * 513, "at most 512"),
    (SampleHeader, ("detector",), "", "at least 1 character"),
    (SampleHeader, ("box", "xmax"), 641, "outside the 640x480 frame"),
    (SampleHeader, ("box", "ymax"), 481, "outside the 640x480 frame"),
    (SampleHeader, ("box", "xmin"), -4, "greater than or equal to 0"),
    (SampleHeader, ("frame_width",), 150, "outside the 150x480 frame"),
    (SampleHeader, ("prelabel", "label"), "zzz", "label must be one of the keys"),
    (SampleHeader, ("provided_label",), "", "at least 1 character"),
    (Status, ("state",), "sleeping", "'online' or 'offline'"),
    (Status, ("at",), "2026-11-24T10:00:00", "timezone"),
    (Stats, ("at",), "2026-11-24 10:00:00", "timezone"),
    (Stats, ("fps",), -1.0, "greater than or equal to 0"),
    (Stats, ("drops", "blur"), "400", "valid integer"),
    (SamplingOverrides, ("track_window_s",), 0.0, "greater than 0"),
    (SamplingOverrides, ("traffic_percent",), 100.5, "less than or equal to 100"),
    (QualityOverrides, ("max_abs_yaw",), 181.0, "less than or equal to 180"),
    (AgentConfig, ("revision",), -1, "greater than or equal to 0"),
    (AgentConfig, ("sampling", "per_minute"), -1, "greater than or equal to 0"),
    (AgentConfig, ("class_targets", "happy"), "lots", "valid number"),
    (ModelAnnouncement, ("classes",), ["only-one"], "at least 2 items"),
    (ModelAnnouncement, ("size",), 0, "greater than or equal to 1"),
    (ModelAnnouncement, ("url",), "u" * 2049, "at most 2048"),
]


@pytest.mark.parametrize(
    ("model", "path", "value", "words"),
    BAD_VALUES,
    ids=[f"{m.__name__}.{'.'.join(p)}" for m, p, _, _ in BAD_VALUES],
)
def test_bad_values_are_refused_with_a_precise_message(
    model: type[BaseModel], path: tuple[str, ...], value: Any, words: str
) -> None:
    with pytest.raises(ValidationError) as info:
        _validate(model, _with(VALID[model], path, value))
    assert words in str(info.value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    ("model", "path"),
    [(Quality, ("yaw",)), (SampleHeader, ("detector_score",)), (Stats, ("fps",))],
)
def test_nan_and_infinity_are_refused(
    model: type[BaseModel], path: tuple[str, ...], value: str
) -> None:
    raw = json.dumps(_with(VALID[model], path, 12345.678)).replace("12345.678", value)
    with pytest.raises(ValidationError, match="finite number"):
        model.model_validate_json(raw)


def test_messages_are_frozen() -> None:
    box = Box(xmin=0, ymin=0, xmax=2, ymax=3)
    assert (box.width, box.height) == (2, 3)
    with pytest.raises(ValidationError):
        box.xmin = 1


def test_utcnow_is_aware() -> None:
    assert utcnow().utcoffset() is not None
    Status(device_id="cam-1", state="offline", at=utcnow())


# decode_json_message: the collector-side entry point for status, stats, config and model.


@pytest.mark.parametrize("model", list(JSON_KINDS), ids=lambda m: m.__name__)
def test_decode_json_message_accepts_each_kind(model: type[BaseModel]) -> None:
    msg = decode_json_message(JSON_KINDS[model], json.dumps(VALID[model]).encode())
    assert isinstance(msg, model)
    assert msg == _validate(model, VALID[model])


@pytest.mark.parametrize(
    ("kind", "payload", "reason", "words"),
    [
        (Kind.STATUS, b"x" * (MAX_JSON_BYTES + 1), "too_large", "65537 bytes > limit of 65536"),
        (Kind.STATUS, b"{", "json", "not UTF-8 JSON"),
        (Kind.STATUS, b"\xff\xfe{}", "json", "not UTF-8 JSON"),
        (Kind.STATUS, b"\xef\xbb\xbf{}", "json", "BOM"),
        (Kind.STATUS, b"[" * 30000 + b"]" * 30000, "json", "recursion"),
        (Kind.STATUS, b'{"a": "\\ud800"}', "json", "Invalid JSON"),
        (Kind.STATUS, b"[]", "schema", "should be an object"),
        (Kind.STATUS, b"null", "schema", "should be an object"),
        (Kind.STATUS, b'{"state": "online"}', "schema", "device_id: Field required"),
        (Kind.STATS, b'{"device_id": "c", "at": "2026-01-01T00:00:00Z"}', "schema", "uptime_s"),
        (Kind.CONFIG, b'{"revision": "4"}', "schema", "revision: Input should be a valid integer"),
        (Kind.MODEL, b'{"model_id": 5}', "schema", "model_id"),
        (Kind.SAMPLE, b"{}", "topic", "not a JSON message kind"),
    ],
)
def test_decode_json_message_errors(kind: Kind, payload: bytes, reason: str, words: str) -> None:
    with pytest.raises(WireError) as info:
        decode_json_message(kind, payload)
    assert info.value.reason == reason
    assert words in str(info.value)
    assert str(info.value).startswith(f"{reason}: ")


def test_decode_json_message_refuses_non_bytes() -> None:
    with pytest.raises(WireError, match="payload must be bytes, not str"):
        decode_json_message(Kind.STATUS, '{"device_id": "c", "state": "online"}')  # type: ignore[arg-type]


def test_schema_error_message_is_bounded() -> None:
    """Hostile dict keys end up in field paths; the message stays short."""
    probs = {"k" * 60 + str(i): 2.0 for i in range(40)}
    raw = json.dumps(dict(VALID[AgentConfig], class_targets={**probs, "x": "y"})).encode()
    with pytest.raises(WireError) as info:
        decode_json_message(Kind.CONFIG, raw)
    assert info.value.reason == "schema"
    assert len(str(info.value)) <= 520
