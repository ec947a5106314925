"""Topics: built and parsed in wire.topics only; hostile topic names are refused."""

from __future__ import annotations

import pytest

from facetrove.wire import Kind, WireError, check_device_id, parse_topic, subscription, topic


@pytest.mark.parametrize(
    ("kind", "qos", "retain"),
    [
        (Kind.SAMPLE, 1, False),
        (Kind.STATUS, 1, True),
        (Kind.STATS, 0, False),
        (Kind.CONFIG, 1, True),
        (Kind.MODEL, 1, True),
    ],
)
def test_build_and_parse_every_kind(kind: Kind, qos: int, retain: bool) -> None:
    name = topic("pi-kitchen.01", kind)
    assert name == f"facetrove/v1/pi-kitchen.01/{kind.value}"
    assert parse_topic(name) == ("pi-kitchen.01", kind)
    assert (kind.qos, kind.retain) == (qos, retain)


def test_kind_accepts_its_string_value() -> None:
    assert topic("cam1", "sample") == "facetrove/v1/cam1/sample"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (None, "facetrove/v1/+/sample"),
        ("", "facetrove/v1/+/sample"),
        ("ingest", "$share/ingest/facetrove/v1/+/sample"),
        ("ingest-2.b_c", "$share/ingest-2.b_c/facetrove/v1/+/sample"),
    ],
)
def test_subscription(group: str | None, expected: str) -> None:
    assert subscription(Kind.SAMPLE, shared_group=group) == expected


@pytest.mark.parametrize("group", ["a/b", "+", "#", "-lead", "x" * 65, "sp ace"])
def test_subscription_refuses_bad_shared_group(group: str) -> None:
    with pytest.raises(ValueError, match="shared subscription group"):
        subscription(Kind.SAMPLE, shared_group=group)


def test_subscription_for_status_kind() -> None:
    assert subscription(Kind.STATUS) == "facetrove/v1/+/status"


@pytest.mark.parametrize(
    "device_id",
    [
        "",
        "-starts-with-dash",
        ".hidden",
        "has/slash",
        "plus+",
        "hash#",
        "space here",
        "x" * 65,
        "ünïcode",
        "new\nline",
        "$SYS",
    ],
)
def test_bad_device_ids_are_refused_when_building(device_id: str) -> None:
    with pytest.raises(ValueError, match="invalid device id"):
        check_device_id(device_id)
    with pytest.raises(ValueError, match="invalid device id"):
        topic(device_id, Kind.SAMPLE)


@pytest.mark.parametrize("device_id", ["a", "A1", "pi_4.lab-2", "0" * 64])
def test_good_device_ids(device_id: str) -> None:
    assert check_device_id(device_id) == device_id


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "not a facetrove/v1/<device>/<kind> topic"),
        ("facetrove/v1/cam1", "not a facetrove/v1/<device>/<kind> topic"),
        ("facetrove/v1/cam1/sample/extra", "not a facetrove/v1/<device>/<kind> topic"),
        ("facetrove/v2/cam1/sample", "not a facetrove/v1/<device>/<kind> topic"),
        ("other/v1/cam1/sample", "not a facetrove/v1/<device>/<kind> topic"),
        ("/facetrove/v1/cam1", "not a facetrove/v1/<device>/<kind> topic"),
        ("facetrove/v1/+/sample", "invalid device id in topic"),
        ("facetrove/v1//sample", "invalid device id in topic"),
        ("facetrove/v1/-x/sample", "invalid device id in topic"),
        ("facetrove/v1/cam1/samples", "unknown message kind"),
        ("facetrove/v1/cam1/SAMPLE", "unknown message kind"),
        ("facetrove/v1/cam1/", "unknown message kind"),
    ],
)
def test_parse_refuses_foreign_topics(name: str, message: str) -> None:
    with pytest.raises(WireError, match=r"^topic: ") as info:
        parse_topic(name)
    assert info.value.reason == "topic"
    assert message in str(info.value)


def test_parse_error_message_is_bounded() -> None:
    with pytest.raises(WireError) as info:
        parse_topic("x" * 100_000)
    assert len(str(info.value)) < 300
