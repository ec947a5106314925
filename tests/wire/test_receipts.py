"""Receipts: built, chunked and decoded by wire only; hostile receipts are refused."""

from __future__ import annotations

import json

import pytest

from facetrove import wire
from facetrove.wire.messages import MAX_JSON_BYTES, MAX_RECEIPT_IDS
from tests.wire.factory import valid_payload


def test_receipt_round_trip_and_topic() -> None:
    ids = [wire.new_sample_id() for _ in range(3)]
    (receipt,) = wire.build_receipts("pi-1", ids[:2], {ids[2]: "image"})
    payload = wire.encode_receipt(receipt)
    back = wire.decode_json_message(wire.Kind.RECEIPT, payload, device_id="pi-1")
    assert isinstance(back, wire.Receipt)
    assert back.stored == ids[:2] and back.quarantined == {ids[2]: "image"}
    name = wire.topic("pi-1", wire.Kind.RECEIPT)
    assert name == "facetrove/v1/pi-1/receipt"
    assert wire.parse_topic(name) == ("pi-1", wire.Kind.RECEIPT)
    assert (wire.Kind.RECEIPT.qos, wire.Kind.RECEIPT.retain) == (1, False)


def test_many_ids_are_split_and_each_receipt_fits_the_json_limit() -> None:
    n = 2 * MAX_RECEIPT_IDS + 7
    stored = [wire.new_sample_id() for _ in range(n)]
    refused = {wire.new_sample_id(): "x" * 200 for _ in range(n)}  # reasons are cut to 64
    receipts = wire.build_receipts("pi-1", stored, refused)
    assert sum(len(r.stored) for r in receipts) == n
    assert sum(len(r.quarantined) for r in receipts) == n
    for r in receipts:
        payload = wire.encode_receipt(r)
        assert len(payload) <= MAX_JSON_BYTES
        assert len(r.stored) + len(r.quarantined) <= MAX_RECEIPT_IDS
        wire.decode_json_message(wire.Kind.RECEIPT, payload)


def test_an_id_stored_and_refused_in_one_batch_is_reported_stored() -> None:
    sid = wire.new_sample_id()
    (receipt,) = wire.build_receipts("pi-1", [sid, sid], {sid: "image"})
    assert receipt.stored == [sid] and receipt.quarantined == {}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"device_id":"pi-1","at":"2026-01-01T00:00:00Z","stored":["nope"]}', "schema"),
        (b'{"device_id":"pi-1","at":"2026-01-01T00:00:00","stored":[]}', "schema"),
        (b'{"device_id":"pi-2","at":"2026-01-01T00:00:00Z"}', "device_mismatch"),
        (
            b'{"device_id":"pi-1","at":"2026-01-01T00:00:00Z","stored":"01M86FYZFTBVPNXVAYXNFETQQD"}',
            "schema",
        ),
    ],
)
def test_hostile_receipts_are_refused(payload: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.decode_json_message(wire.Kind.RECEIPT, payload, device_id="pi-1")
    assert info.value.reason == reason


def test_too_many_ids_in_one_receipt_are_refused() -> None:
    ids = [wire.new_sample_id() for _ in range(MAX_RECEIPT_IDS + 1)]
    doc = {"device_id": "pi-1", "at": "2026-01-01T00:00:00Z", "stored": ids}
    with pytest.raises(wire.WireError, match="schema"):
        wire.decode_json_message(wire.Kind.RECEIPT, json.dumps(doc).encode())


def test_peek_sample_id_reads_the_id_of_a_refused_sample() -> None:
    payload = valid_payload()
    sid = wire.decode_sample(payload).header.sample_id
    assert wire.peek_sample_id(payload) == sid
    broken = payload[:-10]  # framing error: the id is still readable
    assert wire.peek_sample_id(broken) == sid
    junks = [
        b"",
        b"FTS1",
        b"XXXX" + payload[4:],
        payload[:8] + b"\xff" * 600,
        b"FTS1\xff\xff\xff\xff",
    ]
    for junk in junks:
        assert wire.peek_sample_id(junk) is None
    head = json.dumps({"sample_id": "../../etc"}).encode()
    assert wire.peek_sample_id(b"FTS1" + len(head).to_bytes(4, "big") + head) is None
