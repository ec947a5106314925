"""Sample ids made at the edge: time-ordered, unique, URL- and filename-safe.

The layout is that of a ULID: 48 bits of milliseconds since the Unix epoch, then 80 random bits,
written as 26 characters of Crockford base32. Ids sort by creation time across devices.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from datetime import datetime, timezone

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SAMPLE_ID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def new_sample_id(now: float | None = None) -> str:
    """Return a new sample id for the given time (seconds since the epoch, default now)."""
    ms = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def derived_sample_id(key: bytes) -> str:
    """A sample id that is a function of ``key`` alone (128 bits of its sha256, in the same
    26-character form), for samples whose identity is their content: the same file, frame
    and face sent twice get the same id, so the collector stores them once. Such ids do not
    sort by time."""
    value = int.from_bytes(hashlib.sha256(key).digest()[:16], "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def sample_id_time(sample_id: str) -> datetime:
    """Return the UTC creation time encoded in a sample id.

    Raises:
        ValueError: if ``sample_id`` is not a well-formed id.
    """
    if not SAMPLE_ID_RE.match(sample_id):
        raise ValueError(f"not a sample id: {sample_id!r}")
    value = 0
    for ch in sample_id:
        value = (value << 5) | _ALPHABET.index(ch)
    ms = value >> 80
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    except (OverflowError, ValueError):
        # 48 bits of milliseconds reach the year 10889; datetime stops at 9999
        raise ValueError(f"sample id {sample_id!r} encodes a time after the year 9999") from None
