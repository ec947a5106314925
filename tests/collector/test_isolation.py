"""No message stops ingest: the batch commit on real SQLite files and a real blob store.

Tried: a message that raises in the writer (a capture time that overflows in UTC, let through
as if validation had a gap: the bug that once stopped ``collector serve``), a row that the
database itself refuses (a trigger raising on one id), a sample id reused with other bytes or
from another device (in the store and within one batch), a real storage fault, and random
batches of all of these (hypothesis). Kept: every other message of the batch stored, the faulty
ones quarantined with their reason, no blob that no row uses, storage faults still retried.
"""

from __future__ import annotations

import errno
import functools
import json
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facetrove.collector.ingest.isolation import commit_isolated
from facetrove.collector.ingest.validate import Accepted, Outcome, Rejected, validate_message
from facetrove.collector.ingest.writer import FileSystem, StorageError, Writer
from facetrove.collector.store import DB_NAME, BlobStore, connect
from facetrove.collector.store.samples import sample_count
from facetrove.wire import Kind, Sample, SampleHeader, topic
from tests.support.samples import Built, base_crops, build_sample, with_comment

NOW = "2026-11-26T12:00:00+00:00"


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    yield from _writer(tmp_path)


def _writer(root: Path, fs: FileSystem | None = None) -> Iterator[Writer]:
    db = connect(root / DB_NAME)
    try:
        yield Writer(
            db,
            BlobStore(root / "blobs"),
            quarantine_max_rows=1000,
            quarantine_head_bytes=64,
            fs=fs,
        )
    finally:
        db.close()


def accepted(built: Built) -> Accepted:
    out = validate_message(topic(built.device_id, Kind.SAMPLE), built.payload, 1 << 22)
    assert isinstance(out, Accepted), out
    return out


@functools.cache
def face_crop() -> bytes:
    return base_crops()[0]


def sample(tag: str, device: str = "cam-01", sample_id: str | None = None) -> Built:
    return build_sample(with_comment(face_crop(), tag), device, sample_id=sample_id)


def poisoned(built: Built, when: str = "9999-12-31T23:59:59-01:00") -> Accepted:
    """A valid sample whose capture time was swapped, past validation, for one that raises
    OverflowError when converted to UTC: a stand-in for any gap in the validation."""
    a = accepted(built)
    fields = dict(a.sample.header.__dict__, captured_at=datetime.fromisoformat(when))
    header = SampleHeader.model_construct(**fields)
    return Accepted(a.topic, Sample(header, a.sample.crop, a.sample.frame))


def blob_files(w: Writer) -> set[str]:
    return {p.stem for p in w.blobs.root.glob("*/*.jpg")}


def stored_ids(w: Writer) -> set[str]:
    return {r[0] for r in w.db.conn.execute("SELECT id FROM samples").fetchall()}


def quarantined(w: Writer) -> list[tuple[str, str]]:
    rows = w.db.conn.execute("SELECT reason, detail FROM quarantine ORDER BY id").fetchall()
    return [(r[0], r[1]) for r in rows]


def test_a_message_that_raises_in_the_writer_is_quarantined_and_the_rest_stored(
    writer: Writer,
) -> None:
    good = [sample(f"good-{i}") for i in range(4)]
    bad = sample("poison")
    batch: list[Outcome] = [accepted(good[0]), accepted(good[1]), poisoned(bad)]
    batch += [accepted(good[2]), accepted(good[3])]
    with pytest.raises(OverflowError):
        writer.commit(batch, NOW)  # what ingest did before: the whole batch fails, every time
    result = commit_isolated(writer, batch, NOW)
    assert result.stored == 4
    assert result.rejected == {"rejected.internal": 1}
    assert stored_ids(writer) == {g.sample_id for g in good}
    [(reason, detail)] = quarantined(writer)
    assert reason == "internal" and "storing failed: OverflowError" in detail
    assert blob_files(writer) == {g.crop_sha256 for g in good}, "the poison's blob must go"


def test_a_row_the_database_refuses_is_quarantined(writer: Writer) -> None:
    good, bad = sample("db-good"), sample("db-bad")
    writer.db.conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON samples WHEN NEW.id = ? "
        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END".replace("?", f"'{bad.sample_id}'")
    )
    result = commit_isolated(writer, [accepted(bad), accepted(good)], NOW)
    assert (result.stored, result.rejected) == (1, {"rejected.internal": 1})
    assert stored_ids(writer) == {good.sample_id}
    assert "IntegrityError: refused by a trigger" in quarantined(writer)[0][1]
    assert blob_files(writer) == {good.crop_sha256}


def test_reused_ids_are_conflicts_and_leave_no_blob(writer: Writer) -> None:
    first = sample("first")
    commit_isolated(writer, [accepted(first)], NOW)
    other_bytes = sample("other-bytes", sample_id=first.sample_id)
    other_device = build_sample(first.crop, "cam-99", sample_id=first.sample_id)
    new = sample("new")
    new_again_other = sample("new-other", sample_id=new.sample_id)
    batch = [accepted(b) for b in (first, other_bytes, other_device, new, new, new_again_other)]
    result = commit_isolated(writer, batch, NOW)
    assert (result.stored, result.redelivered) == (1, 2)
    assert result.rejected == {"rejected.id_conflict": 3}
    details = [d for r, d in quarantined(writer) if r == "id_conflict"]
    assert len(details) == 3
    assert "is held by device 'cam-01'" in details[1]
    assert "other image bytes" in details[0]
    assert stored_ids(writer) == {first.sample_id, new.sample_id}
    assert blob_files(writer) == {first.crop_sha256, new.crop_sha256}
    row = writer.db.conn.execute(
        "SELECT device_id, crop_sha256 FROM samples WHERE id = ?", (first.sample_id,)
    ).fetchone()
    assert row == ("cam-01", first.crop_sha256), "the stored sample must not change"


class FullDisk(FileSystem):
    def write_temp(self, directory: Path, data: bytes) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(directory))


def test_a_storage_fault_is_still_retried_not_quarantined(tmp_path: Path) -> None:
    for w in _writer(tmp_path, FullDisk()):
        with pytest.raises(StorageError) as err:
            commit_isolated(w, [accepted(sample("full-1")), poisoned(sample("full-2"))], NOW)
        assert err.value.disk_full
        assert sample_count(w.db) == 0 and quarantined(w) == []


# -- hypothesis: random batches of every kind, the invariants hold -------------------------

KINDS = ("new", "again", "other_bytes", "other_device", "poison", "junk", "status")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.lists(st.sampled_from(KINDS), min_size=1, max_size=12), min_size=1, max_size=4))
def test_random_batches_keep_the_invariants(batches: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for w in _writer(Path(tmp)):
            _run_batches(w, batches)


def _run_batches(w: Writer, batches: list[list[str]]) -> None:
    made: list[Built] = []  # distinct samples published so far, in order
    stored: dict[str, Built] = {}
    handled = rejected = 0
    for b, kinds in enumerate(batches):
        batch: list[Outcome] = []
        for i, kind in enumerate(kinds):
            tag = f"{b}-{i}"
            if kind == "new" or (not made and kind in ("again", "other_bytes", "other_device")):
                made.append(sample(tag))
                batch.append(accepted(made[-1]))
            elif kind == "again":
                batch.append(accepted(made[i % len(made)]))
            elif kind == "other_bytes":
                batch.append(accepted(sample(tag, sample_id=made[i % len(made)].sample_id)))
            elif kind == "other_device":
                orig = made[i % len(made)]
                batch.append(accepted(build_sample(orig.crop, "cam-77", sample_id=orig.sample_id)))
            elif kind == "poison":
                batch.append(poisoned(sample(tag)))
            elif kind == "junk":
                junk = validate_message(topic("cam-01", Kind.SAMPLE), b"junk" + tag.encode(), 1024)
                assert isinstance(junk, Rejected)
                batch.append(junk)
            else:
                st_msg = json.dumps({"device_id": "cam-01", "state": "online"}).encode()
                batch.append(validate_message(topic("cam-01", Kind.STATUS), st_msg, 1024))
        result = commit_isolated(w, batch, NOW)
        handled += len(batch)
        rejected += sum(result.rejected.values())
        got = result.stored + result.redelivered + result.device_updates
        assert got + sum(result.rejected.values()) == len(batch)
        for o in batch:
            if isinstance(o, Accepted) and o.sample.header.sample_id not in stored:
                sid = o.sample.header.sample_id
                if sid in stored_ids(w):
                    stored[sid] = next(m for m in made if m.sample_id == sid)
    # every stored id holds the bytes of its first appearance, and only those blobs exist
    rows = dict(w.db.conn.execute("SELECT id, crop_sha256 FROM samples").fetchall())
    assert set(rows) == {m.sample_id for m in made}
    assert all(rows[m.sample_id] == m.crop_sha256 for m in made)
    assert blob_files(w) == set(rows.values())
    total = w.db.conn.execute(
        "SELECT COALESCE(SUM(value), 0) FROM counters WHERE name LIKE 'rejected.%'"
    ).fetchone()[0]
    assert total == rejected <= handled


def test_a_wrong_device_clock_is_stored_and_flagged(writer: Writer) -> None:
    """Tried: a capture time an hour ahead of the collector, one in 1970 (a board without a
    real-time clock), one 3 days old (an outbox backlog), one now. Kept: all four stored; the
    first two flagged with the seconds they lie ahead (negative: behind), counted once each."""
    from datetime import timedelta, timezone

    from facetrove.collector.store.stats import counters
    from tests.support.hostile import with_time

    now = datetime.now(timezone.utc)
    times = {
        "ahead": now + timedelta(hours=1),
        "unset": datetime(1970, 1, 1, 0, 0, 5, tzinfo=timezone.utc),
        "backlog": now - timedelta(days=3),
        "now": now,
    }
    built = {name: sample(f"clock-{name}") for name in times}
    batch = []
    for name, when in times.items():
        payload = with_time(built[name], when.isoformat())
        out = validate_message(topic("cam-01", Kind.SAMPLE), payload, 1 << 22)
        assert isinstance(out, Accepted), out
        batch.append(out)
    received = now.isoformat()
    result = commit_isolated(writer, batch, received)
    assert (result.stored, result.clock_skewed) == (4, 2)
    commit_isolated(writer, batch[:2], received)  # redelivered: not counted again
    skew = dict(writer.db.conn.execute("SELECT id, clock_skew_s FROM samples").fetchall())
    assert skew[built["ahead"].sample_id] == pytest.approx(3600, abs=1)
    assert skew[built["unset"].sample_id] < -1.7e9
    assert skew[built["backlog"].sample_id] is None and skew[built["now"].sample_id] is None
    assert counters(writer.db, "samples.clock_skew") == {"samples.clock_skew": 2}


def test_a_store_that_cannot_be_read_is_a_storage_fault(tmp_path: Path) -> None:
    """Tried: the id screen on a database connection that fails (closed under it). Kept: a
    StorageError (ingest backs off and retries, nothing acknowledged), not a crash of ingest."""
    for w in _writer(tmp_path):
        w.db.close()
        with pytest.raises(StorageError):
            commit_isolated(w, [accepted(sample("closed"))], NOW)
