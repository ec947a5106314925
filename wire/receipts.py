"""Receipts: the collector tells a device which of its samples are durably stored.

A broker's PUBACK only says the broker has a message; a receipt says the collector has the
sample on disk (or refused it for good). Receipts are JSON ``Receipt`` messages on
``facetrove/v1/<device_id>/receipt`` (QoS 1, not retained), at most ``MAX_RECEIPT_IDS`` ids each.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from datetime import datetime

from facetrove.wire.framing import MAGIC, MAX_HEADER_BYTES
from facetrove.wire.ids import SAMPLE_ID_RE
from facetrove.wire.messages import MAX_RECEIPT_IDS, Receipt, utcnow


def build_receipts(
    device_id: str,
    stored: Iterable[str],
    quarantined: Mapping[str, str] | None = None,
    at: datetime | None = None,
) -> list[Receipt]:
    """Receipts for one device, split so that none carries more than ``MAX_RECEIPT_IDS`` ids.

    An id that is in both ``stored`` and ``quarantined`` (a re-send of a stored sample that
    failed this time) is reported as stored: the collector holds it.
    """
    at = at or utcnow()
    ids = list(dict.fromkeys(stored))
    held = set(ids)
    refused = [(k, v[:64]) for k, v in (quarantined or {}).items() if k not in held]
    items: list[tuple[str, str | None]] = [(i, None) for i in ids] + list(refused)
    out = []
    for start in range(0, len(items), MAX_RECEIPT_IDS):
        chunk = items[start : start + MAX_RECEIPT_IDS]
        out.append(
            Receipt(
                device_id=device_id,
                at=at,
                stored=[i for i, r in chunk if r is None],
                quarantined={i: r for i, r in chunk if r is not None},
            )
        )
    return out


def encode_receipt(receipt: Receipt) -> bytes:
    """The JSON payload of one receipt."""
    return receipt.model_dump_json().encode()


def peek_sample_id(payload: bytes) -> str | None:
    """The sample id in a sample payload that failed validation, if it can be read at all.

    A refused sample still needs its receipt (``quarantined``) so that its agent stops sending
    it; this reads only the framing prefix and the header's ``sample_id`` and never raises.
    """
    if len(payload) < 8 or payload[:4] != MAGIC:
        return None
    (head_len,) = struct.unpack_from(">I", payload, 4)
    if not 1 <= head_len <= MAX_HEADER_BYTES or 8 + head_len > len(payload):
        return None
    try:
        header = json.loads(bytes(payload[8 : 8 + head_len]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    sid = header.get("sample_id") if isinstance(header, dict) else None
    return sid if isinstance(sid, str) and SAMPLE_ID_RE.match(sid) else None
