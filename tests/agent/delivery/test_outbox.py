"""The durable outbox on a real SQLite file: order, in flight, receipts, limits, counters, kill."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from facetrove.agent.delivery.outbox import Outbox, OutboxError
from facetrove.wire import new_sample_id


def _ids(n: int, t0: float = 1_700_000_000.0) -> list[str]:
    return [new_sample_id(t0 + i) for i in range(n)]


def test_put_next_batch_confirm_in_order(tmp_path: Path) -> None:
    """Rows come out oldest first, a row in flight is not handed out twice, a receipt deletes
    it (stored, or quarantined: counted apart)."""
    box = Outbox(tmp_path / "o.db")
    ids = _ids(5)
    for i, sid in enumerate(ids):
        assert box.put(sid, b"x" * (10 + i)) == []
    assert (box.depth, box.bytes) == (5, 10 + 11 + 12 + 13 + 14)
    first = box.next_batch(2)
    assert [p.sample_id for p in first] == ids[:2]
    second = box.next_batch(10)
    assert [p.sample_id for p in second] == ids[2:]
    assert box.next_batch(10) == []  # everything is in flight
    assert box.confirm([ids[0]]) == [ids[0]]
    assert box.confirm([ids[0]]) == []  # a duplicate receipt deletes nothing and counts nothing
    assert box.depth == 4 and box.inflight == 4
    assert box.release(ids[3]) is True and box.release(ids[0]) is False
    assert [p.sample_id for p in box.next_batch(10)] == [ids[3]]  # overdue: handed out again
    box.release()  # a reconnect without session: hand everything out again, in order
    assert [p.sample_id for p in box.next_batch(10)] == ids[1:]
    assert box.confirm([ids[1], "unknown", ids[2]], quarantined=True) == [ids[1], ids[2]]
    assert (box.depth, box.bytes, box.inflight) == (2, 13 + 14, 2)
    c = box.counters()
    assert (c["confirmed"], c["quarantined"], c["put"]) == (1, 2, 5)
    box.close()


def test_survives_reopen_and_keeps_counters(tmp_path: Path) -> None:
    """What was not acknowledged is there after a restart; counters persist."""
    path = tmp_path / "o.db"
    box = Outbox(path, max_rows=3)
    ids = _ids(5)
    for sid in ids:
        box.put(sid, b"payload")
    box.next_batch(3)
    box.confirm([ids[2]])
    box.close()
    again = Outbox(path, max_rows=3)
    assert again.ids() == ids[3:]
    assert again.inflight == 0  # in-flight marks do not survive: those rows are sent again
    assert again.counters() == {
        "put": 5,
        "confirmed": 1,
        "quarantined": 0,
        "dropped_rows": 2,
        "dropped_bytes": 0,
        "dropped_age": 0,
        "dropped_disk": 0,
    }
    assert again.drops() == {
        "outbox_rows": 2,
        "outbox_bytes": 0,
        "outbox_age": 0,
        "outbox_disk": 0,
    }
    again.close()


def test_drop_oldest_by_rows_and_bytes(tmp_path: Path) -> None:
    """Limits drop the oldest rows, counted by the limit that was hit."""
    box = Outbox(tmp_path / "o.db", max_rows=100, max_bytes=3000)
    ids = _ids(4)
    for sid in ids[:2]:
        box.put(sid, b"a" * 1000)
    dropped = box.put(ids[2], b"b" * 1000)
    assert dropped == []
    dropped = box.put(ids[3], b"c" * 1500)  # 3000 + 1500 > 3000: two must go
    assert dropped == ids[:2]
    assert box.ids() == ids[2:] and box.bytes == 2500
    assert box.counters()["dropped_bytes"] == 2
    box.close()


def test_drop_newest_refuses_the_new_sample(tmp_path: Path) -> None:
    """With policy drop_newest a full outbox keeps what it has and counts the refusal."""
    box = Outbox(tmp_path / "o.db", max_rows=2, policy="drop_newest")
    ids = _ids(3)
    box.put(ids[0], b"1")
    box.put(ids[1], b"2")
    assert box.put(ids[2], b"3") == [ids[2]]
    assert box.ids() == ids[:2]
    assert box.counters()["dropped_rows"] == 1
    box.close()


def test_age_limit(tmp_path: Path) -> None:
    """Rows older than max_age_s are dropped and counted as age drops."""
    box = Outbox(tmp_path / "o.db", max_age_s=60)
    ids = _ids(3)
    box.put(ids[0], b"old", created=1000.0)
    box.put(ids[1], b"old", created=1010.0)
    box.put(ids[2], b"new", created=1065.0)  # expires the first (older than 1005)
    assert box.ids() == ids[1:]
    assert box.expire(now=1200.0) == ids[1:]
    assert box.depth == 0 and box.counters()["dropped_age"] == 3
    box.close()


def test_in_flight_row_dropped_by_limit_then_confirmed(tmp_path: Path) -> None:
    """A receipt for a row a limit already removed is harmless."""
    box = Outbox(tmp_path / "o.db", max_rows=1)
    a, b = _ids(2)
    box.put(a, b"1")
    box.next_batch(1)
    box.put(b, b"2")
    assert box.confirm([a]) == [] and box.inflight == 0
    assert box.release(a) is False
    assert [p.sample_id for p in box.next_batch(5)] == [b]
    box.close()


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    """A path that cannot hold a database names the file."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(blocker / "o.db")


def test_kill_9_after_put_keeps_the_sample(tmp_path: Path) -> None:
    """A process that dies by SIGKILL right after put() returned loses nothing it put."""
    path = tmp_path / "o.db"
    code = textwrap.dedent(
        f"""
        import os, signal
        from facetrove.agent.delivery.outbox import Outbox
        from facetrove.wire import new_sample_id
        box = Outbox({str(path)!r})
        for i in range(50):
            sid = new_sample_id()
            box.put(sid, os.urandom(2000))
            print(sid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9
    printed = proc.stdout.split()
    assert len(printed) == 50
    box = Outbox(path)
    assert box.ids() == printed and box.counters()["put"] == 50
    box.close()


def test_a_released_row_goes_out_first_and_new_rows_still_follow(tmp_path: Path) -> None:
    """Rows handed out again (receipt overdue) come before new ones, and handing them out does
    not stop the new ones, whatever the room per call (once 1 at a time stalled everything)."""
    box = Outbox(tmp_path / "o.db")
    ids = _ids(8)
    for sid in ids:
        box.put(sid, b"p")
    assert [p.sample_id for p in box.next_batch(4)] == ids[:4]
    assert box.release(ids[1]) and box.release(ids[3])
    got = [p.sample_id for _ in range(6) for p in box.next_batch(1)]
    assert got == [ids[1], ids[3], *ids[4:]]
    box.confirm([ids[0]])
    assert box.release(ids[2]) and box.confirm([ids[2]]) == [ids[2]]
    assert box.next_batch(5) == []  # a released row confirmed meanwhile is not handed out
    box.release()  # restart semantics: everything in order again
    assert [p.sample_id for p in box.next_batch(10)] == [i for i in ids if i not in ids[:3:2]]
    box.close()


def test_an_id_held_or_confirmed_is_not_put_again(tmp_path: Path) -> None:
    """Samples of files have ids derived from their content: a re-run puts the same ids. One
    still waiting is not queued twice; one the collector confirmed is not sent again (for
    max_age_s), also after a restart."""
    a, b = _ids(2)
    box = Outbox(tmp_path / "o.db")
    box.put(a, b"x" * 10)
    assert box.put(a, b"x" * 10) == [] and box.depth == 1
    assert box.confirm([a]) == [a]
    box.put(a, b"x" * 10)
    assert box.depth == 0
    box.close()
    box = Outbox(tmp_path / "o.db")
    box.put(a, b"x" * 10)
    box.put(b, b"y" * 10)
    assert box.ids() == [b] and box.counters()["put"] == 2
    box.close()
