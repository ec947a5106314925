"""Sample ids: ULID layout, time-ordered, unique, and the time can be read back."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from facetrove.wire import new_sample_id, sample_id_time
from facetrove.wire.ids import SAMPLE_ID_RE


def test_unique_over_100k() -> None:
    ids = [new_sample_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert all(SAMPLE_ID_RE.match(i) for i in ids[:1000])
    assert all(len(i) == 26 for i in ids)


def test_ids_sort_by_creation_time() -> None:
    times = [1_600_000_000.0 + k * 0.001 for k in range(0, 5000, 7)]
    ids = [new_sample_id(t) for t in times]
    assert ids == sorted(ids)
    # across the whole 48-bit millisecond range (up to the year 10889)
    spread = [new_sample_id(t) for t in (0.0, 1.0, 1e9, 1.7e9, 2.5e11, 2.8e11)]
    assert spread == sorted(spread)


def test_time_reads_back_to_the_millisecond() -> None:
    for t in (0.0, 1_700_000_000.123, 1_999_999_999.999, 4_000_000_000.5):
        got = sample_id_time(new_sample_id(t))
        assert got.tzinfo is timezone.utc
        assert abs(got.timestamp() - t) < 0.0015


def test_default_time_is_now() -> None:
    before = datetime.now(timezone.utc).timestamp()
    got = sample_id_time(new_sample_id()).timestamp()
    after = time.time()
    assert before - 0.002 <= got <= after


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0" * 25,
        "0" * 27,
        "8" + "0" * 25,  # over 48 bits of milliseconds
        "0" * 25 + "I",  # I, L, O, U are not Crockford base32
        "0" * 25 + "L",
        "0" * 25 + "O",
        "0" * 25 + "U",
        "01arz3ndektsv4rrffq69g5fav",  # lower case is not what we emit
        "01ARZ3NDEKTSV4RRFFQ69G5FA-",
    ],
)
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a sample id"):
        sample_id_time(bad)


def test_time_past_year_9999_is_a_clear_value_error() -> None:
    late = new_sample_id(2.8e11)  # the 48-bit field reaches the year 10889
    with pytest.raises(ValueError, match="after the year 9999"):
        sample_id_time(late)
