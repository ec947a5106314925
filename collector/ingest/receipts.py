"""Receipts: after a durable commit, tell each device which of its samples the collector holds.

The answer comes from the store itself, after the commit: a sample id is ``stored`` when the
store holds it for the device whose topic it came on (committed now, earlier, or meanwhile by
another ingest process on the shared subscription), with the same crop bytes when the message
carried any. Every other sample message whose id can be read is ``quarantined`` with its
reason: the validation's, ``id_conflict`` for an id held by another device or with other bytes,
``internal`` for one that failed to store. So a re-send is answered, and a poison sample is not
sent forever (docs/protocol.md, Receipt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from facetrove.collector.ingest.validate import Accepted, Outcome, Rejected
from facetrove.collector.store.db import Database
from facetrove.collector.store.devices import device_ids
from facetrove.collector.store.samples import sample_identities
from facetrove.wire import (
    Kind,
    Receipt,
    WireError,
    build_receipts,
    encode_receipt,
    parse_topic,
    peek_sample_id,
    topic,
    utcnow,
)


@dataclass
class _Answer:
    stored: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)


def receipts_for(db: Database, outcomes: Sequence[Outcome]) -> list[tuple[str, bytes]]:
    """``(topic, payload)`` of the receipts for one committed batch, per device."""
    asked: list[tuple[str, str, str | None, str]] = []  # device, sample id, crop sha, reason
    for o in outcomes:
        if isinstance(o, Accepted):
            h = o.sample.header  # validation made sure: payload device = topic device
            asked.append((h.device_id, h.sample_id, h.crop.sha256, ""))
        elif isinstance(o, Rejected):
            device = _topic_device(o.topic, sample_only=True)
            sid = peek_sample_id(o.payload) if device else None
            if device and sid:
                asked.append((device, sid, None, o.reason))
    if not asked:
        return []
    held = sample_identities(db, (sid for _, sid, _, _ in asked))
    answers: dict[str, _Answer] = {}
    for device, sid, crop, reason in asked:
        answer = answers.setdefault(device, _Answer())
        have = held.get(sid)
        if have is not None and have[0] == device and crop in (None, have[1]):
            answer.stored.append(sid)
        elif have is not None:
            answer.quarantined[sid] = "id_conflict"
        else:
            answer.quarantined[sid] = reason or "internal"
    out = []
    for device, answer in answers.items():
        for receipt in build_receipts(device, answer.stored, answer.quarantined):
            out.append((topic(device, Kind.RECEIPT), encode_receipt(receipt)))
    return out


def subscribed_receipts(db: Database) -> list[tuple[str, bytes]]:
    """An empty receipt with ``subscribed`` set for every known device, sent when ingest has
    (re)subscribed: agents then send again at once what still waits for its receipt."""
    return [
        (
            topic(device, Kind.RECEIPT),
            encode_receipt(Receipt(device_id=device, at=utcnow(), subscribed=True)),
        )
        for device in device_ids(db)
    ]


def _topic_device(name: str, *, sample_only: bool = False) -> str | None:
    try:
        device, kind = parse_topic(name)
    except WireError:
        return None
    return device if kind is Kind.SAMPLE or not sample_only else None
