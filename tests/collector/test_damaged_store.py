"""A damaged store is refused before anything writes into it (issue 9, item 6).

Tried: a real store of 300 samples whose database file was then damaged three ways (garbage
over pages in the middle, the file cut short, the header overwritten), opened by `facetrove
collector ingest` and by `facetrove collector serve`. Kept: the file byte-identical (nothing
written), exit code 1, one line on stderr that says what is wrong and what to do, no traceback.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from facetrove.collector.ingest.validate import Accepted, validate_message
from facetrove.collector.ingest.writer import Writer
from facetrove.collector.store import DB_NAME, BlobStore, connect
from facetrove.wire import Kind, topic
from tests.collector.ingest_helpers import FACETROVE
from tests.support.broker import free_port
from tests.support.samples import many_samples

PAGE = 4096


def make_store(data: Path, n: int = 300) -> Path:
    db = connect(data / DB_NAME)
    writer = Writer(db, BlobStore(data / "blobs"), quarantine_max_rows=10, quarantine_head_bytes=8)
    batch = []
    for s in many_samples(n, tag=f"damage-{data.name}"):
        out = validate_message(topic(s.device_id, Kind.SAMPLE), s.payload, 1 << 22)
        assert isinstance(out, Accepted)
        batch.append(out)
    writer.commit(batch, "2026-11-26T12:00:00+00:00")
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    path = data / DB_NAME
    assert path.stat().st_size > 20 * PAGE
    return path


def damage(path: Path, how: str) -> None:
    raw = bytearray(path.read_bytes())
    if how == "pages":
        for page in range(len(raw) // PAGE // 2, len(raw) // PAGE // 2 + 3):
            raw[page * PAGE : (page + 1) * PAGE] = bytes(range(256)) * (PAGE // 256)
    elif how == "truncated":
        raw = raw[: len(raw) // 3]
    elif how == "emptied":  # cut to 0 bytes: SQLite would take it for a new, empty database
        raw = bytearray()
    else:
        raw[:100] = b"not a database, just bytes " * 3 + b"!" * 19
    path.write_bytes(bytes(raw))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("how", ["pages", "truncated", "header", "emptied"])
def test_ingest_refuses_a_damaged_store(tmp_path: Path, how: str) -> None:
    data = tmp_path / "data"
    path = make_store(data)
    damage(path, how)
    before = digest(path)
    # No broker is listening on this port: the store check must come first.
    res = run(
        [FACETROVE, "collector", "ingest", "--data-dir", str(data),
         "--broker", f"mqtt://127.0.0.1:{free_port()}"]
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    assert "is damaged" in errors[0] and str(path) in errors[0]
    assert "restore" in errors[0]
    assert digest(path) == before, "ingest wrote into a damaged store"
    assert not (data / f"{DB_NAME}-wal").exists() or (data / f"{DB_NAME}-wal").stat().st_size == 0


def test_serve_refuses_a_damaged_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = make_store(data)
    damage(path, "pages")
    before = digest(path)
    broker_port = free_port()
    res = run(
        [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port",
         str(broker_port), "--port", str(free_port())]
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "is damaged" in errors[0], res.stderr
    assert digest(path) == before


def test_a_healthy_store_passes(tmp_path: Path) -> None:
    from facetrove.collector.store.integrity import open_checked

    path = make_store(tmp_path / "data", n=20)
    db = open_checked(path)
    assert db.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 20
    db.close()
