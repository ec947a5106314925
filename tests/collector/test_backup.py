"""`facetrove collector backup` while a real ingest process keeps writing."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.collector.cli import collector
from facetrove.collector.store import DB_NAME, BlobStore
from facetrove.collector.store.backup import BackupError, backup
from tests.collector.ingest_helpers import IngestProcess, Publisher, wait_rows
from tests.collector.test_reliability import publish_all
from tests.support.broker import Mosquitto
from tests.support.samples import many_samples


def check_backup(dest: Path) -> int:
    """The copy opens, passes integrity_check, and has every referenced image, sha256-exact."""
    conn = sqlite3.connect(dest / DB_NAME)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        shas = [r[0] for r in conn.execute("SELECT crop_sha256 FROM samples")]
    finally:
        conn.close()
    blobs = BlobStore(dest / "blobs")
    for sha in shas:
        assert hashlib.sha256(blobs.get(sha)).hexdigest() == sha
    return len(shas)


def test_backup_while_ingest_runs(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Tried: a backup taken through the CLI while 3,000 samples stream in, then a second one
    after. Kept: each copy is a consistent snapshot (integrity ok, every row's image present
    and sha256-exact); the second has all 3,000; the live store is untouched."""
    data = tmp_path / "data"
    ingest = IngestProcess(data, mosquitto.url)
    samples = many_samples(3_000, tag="backup")
    pub = None
    try:
        ingest.start()
        pub = Publisher(mosquitto.port)
        sender = publish_all(pub, samples, pace_every=300)
        assert wait_rows(data, 600, timeout=60) >= 600
        result = CliRunner().invoke(
            collector, ["backup", "--data-dir", str(data), str(tmp_path / "b1")]
        )
        assert result.exit_code == 0, result.output
        first = check_backup(tmp_path / "b1")
        assert 600 <= first <= 3_000
        assert f"{first} samples" in result.output
        sender.join(60)
        assert wait_rows(data, 3_000, timeout=60) == 3_000
        final = backup(data, tmp_path / "b2")
        assert final.samples == 3_000 and final.blobs == 3_000
        assert check_backup(tmp_path / "b2") == 3_000
        # A restored copy is a working store: the CLI reads it.
        stats = CliRunner().invoke(collector, ["stats", "--data-dir", str(tmp_path / "b2")])
        assert stats.exit_code == 0 and "3000" in stats.output
    finally:
        if pub:
            pub.close()
        ingest.stop()


def test_backup_refuses_bad_destination_and_reports_corrupt_images(tmp_path: Path) -> None:
    """Tried: a destination that is not empty; a source image altered on disk.
    Kept: a one-line error for each; the altered image is named in backup.json, not copied."""
    from facetrove.collector.ingest.validate import validate_message
    from facetrove.collector.ingest.writer import Writer
    from facetrove.collector.store import connect
    from facetrove.wire import Kind, topic

    data = tmp_path / "data"
    db = connect(data / DB_NAME)
    writer = Writer(db, BlobStore(data / "blobs"), quarantine_max_rows=10, quarantine_head_bytes=8)
    built = many_samples(3, tag="corrupt")
    outcomes = [
        validate_message(topic(s.device_id, Kind.SAMPLE), s.payload, 1 << 22) for s in built
    ]
    writer.commit(outcomes, "2026-11-24T00:00:00+00:00")
    db.close()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    result = CliRunner().invoke(collector, ["backup", "--data-dir", str(data), str(busy)])
    assert result.exit_code == 1 and "is not empty" in result.output
    BlobStore(data / "blobs").path(built[1].crop_sha256).write_bytes(b"\xff\xd8tampered\xff\xd9")
    with pytest.raises(BackupError, match="1 corrupt"):
        backup(data, tmp_path / "b")
    assert built[1].crop_sha256 in (tmp_path / "b" / "backup.json").read_text()
    assert not BlobStore(tmp_path / "b" / "blobs").exists(built[1].crop_sha256)
    result = CliRunner().invoke(
        collector, ["backup", "--data-dir", str(tmp_path / "nope"), str(tmp_path / "c")]
    )
    assert result.exit_code == 1 and "no store at" in result.output
