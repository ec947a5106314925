"""Ingest storage logic on real SQLite files and a real blob store, and the worker end to end."""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from facetrove.collector.cli import collector
from facetrove.collector.config import ConfigError, load_config
from facetrove.collector.ingest.validate import Accepted, Rejected, validate_message
from facetrove.collector.ingest.worker import IngestWorker
from facetrove.collector.ingest.writer import FileSystem, StorageError, Writer
from facetrove.collector.store import DB_NAME, BlobStore, connect
from facetrove.collector.store.samples import get_sample, sample_count
from facetrove.wire import Kind, topic, utcnow
from tests.collector.ingest_helpers import Publisher, wait_rows
from tests.support.broker import Mosquitto
from tests.support.samples import base_crops, build_sample, many_samples, with_comment

NOW = "2026-11-24T12:00:00+00:00"


class FullDisk(FileSystem):
    """The file-system layer with a disk that is full for the first ``fail`` writes."""

    def __init__(self, fail: int = 10**9) -> None:
        super().__init__()
        self.fail = fail
        self.calls = 0

    def write_temp(self, directory: Path, data: bytes) -> Path:
        self.calls += 1
        if self.calls <= self.fail:
            raise OSError(errno.ENOSPC, "No space left on device", str(directory))
        return super().write_temp(directory, data)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Writer, Path]]:
    db = connect(tmp_path / DB_NAME)
    writer = Writer(
        db, BlobStore(tmp_path / "blobs"), quarantine_max_rows=5, quarantine_head_bytes=16
    )
    yield writer, tmp_path
    db.close()


def accepted(payload: bytes, device: str = "cam-01") -> Accepted:
    outcome = validate_message(topic(device, Kind.SAMPLE), payload, 1 << 22)
    assert isinstance(outcome, Accepted), outcome
    return outcome


def test_same_id_is_one_row_same_crop_is_a_duplicate(store: tuple[Writer, Path]) -> None:
    """Tried: one sample three times (redelivery) and its crop again under a new id.
    Kept: one row for the id; the second id stored with duplicate_of pointing at the first."""
    writer, _ = store
    crop = with_comment(base_crops()[0], "dup")
    first = build_sample(crop, "cam-01")
    again = build_sample(crop, "cam-01")
    r1 = writer.commit([accepted(first.payload), accepted(first.payload)], NOW)
    r2 = writer.commit([accepted(first.payload), accepted(again.payload)], NOW)
    assert (r1.stored, r1.redelivered) == (1, 1)
    assert (r2.stored, r2.redelivered, r2.duplicate_crops) == (1, 1, 1)
    assert sample_count(writer.db) == 2
    assert get_sample(writer.db, again.sample_id)["duplicate_of"] == first.sample_id
    assert get_sample(writer.db, first.sample_id)["duplicate_of"] is None
    device = writer.db.conn.execute("SELECT samples FROM devices WHERE id='cam-01'").fetchone()
    assert device[0] == 2
    assert writer.blobs.get(first.crop_sha256) == crop


def test_disk_full_on_blob_write_stores_nothing_then_recovers(tmp_path: Path) -> None:
    """Tried: ENOSPC from the file-system layer while writing the batch's images.
    Kept: StorageError(disk_full), no row, no blob, no temp file; the same batch succeeds later."""
    db = connect(tmp_path / DB_NAME)
    fs = FullDisk(fail=1)
    writer = Writer(
        db, BlobStore(tmp_path / "blobs"), quarantine_max_rows=5, quarantine_head_bytes=16, fs=fs
    )
    batch = [accepted(s.payload, s.device_id) for s in many_samples(5, tag="enospc")]
    with pytest.raises(StorageError) as err:
        writer.commit(batch, NOW)
    assert err.value.disk_full
    assert sample_count(db) == 0
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert writer.commit(batch, NOW).stored == 5
    db.close()


def test_disk_full_on_row_commit_rolls_back(store: tuple[Writer, Path]) -> None:
    """Tried: the database cannot grow (SQLITE_FULL via max_page_count) during the row commit.
    Kept: StorageError(disk_full), no row and no counter change; the batch commits later."""
    writer, _ = store
    batch = [accepted(s.payload, s.device_id) for s in many_samples(200, tag="full")]
    pages = writer.db.conn.execute("PRAGMA page_count").fetchone()[0]
    writer.db.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageError) as err:
        writer.commit(batch, NOW)
    assert err.value.disk_full
    assert sample_count(writer.db) == 0
    writer.db.conn.execute("PRAGMA max_page_count = 1073741823")
    assert writer.commit(batch, NOW).stored == 200


def test_quarantine_is_bounded_and_counters_exact(store: tuple[Writer, Path]) -> None:
    """Tried: 12 rejected payloads with a bound of 5 rows. Kept: 5 newest rows, counter 12."""
    writer, _ = store
    bad = [
        validate_message(topic("cam-01", Kind.SAMPLE), b"junk%d" % i, 1 << 20) for i in range(12)
    ]
    assert all(isinstance(b, Rejected) and b.reason == "framing" for b in bad)
    writer.commit(bad, NOW)
    rows = writer.db.conn.execute("SELECT payload_head FROM quarantine ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [b"junk%d" % i for i in range(7, 12)]
    counter = writer.db.conn.execute("SELECT value FROM counters WHERE name='rejected.framing'")
    assert counter.fetchone()[0] == 12


def test_quarantine_and_stats_commands(store: tuple[Writer, Path]) -> None:
    """Tried: the operator commands on a store with a stored sample and a device_mismatch.
    Kept: exact counts by reason, the rejected topic and detail, the sample count; a missing
    store is a one-line error, not a new empty store."""
    writer, root = store
    good = many_samples(1, tag="cli")[0]
    liar = validate_message(topic("cam-02", Kind.SAMPLE), good.payload, 1 << 22)
    writer.commit([accepted(good.payload, good.device_id), liar], NOW)
    runner = CliRunner(env={"COLUMNS": "250"})  # rich wraps to the terminal width
    out = runner.invoke(collector, ["quarantine", "--data-dir", str(root)])
    assert out.exit_code == 0, out.output
    assert "device_mismatch" in out.output and "facetrove/v1/cam-02/sample" in out.output
    out = runner.invoke(collector, ["stats", "--data-dir", str(root)])
    assert out.exit_code == 0, out.output
    assert "samples pending" in out.output and "rejected.device_mismatch" in out.output
    assert good.device_id in out.output
    missing = root / "missing"
    out = runner.invoke(collector, ["stats", "--data-dir", str(missing)])
    assert out.exit_code == 1 and "no store at" in out.output and not missing.exists()
    # A misspelt reason is an error listing the reasons, not an empty "nothing rejected" table.
    out = runner.invoke(
        collector, ["quarantine", "--data-dir", str(root), "--reason", "device-mismatch"]
    )
    assert out.exit_code == 2 and "device_mismatch" in out.output and "undecodable" in out.output
    out = runner.invoke(
        collector, ["quarantine", "--data-dir", str(root), "--reason", "device_mismatch"]
    )
    assert out.exit_code == 0 and "facetrove/v1/cam-02/sample" in out.output


def test_a_validation_bug_is_quarantined_not_stuck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tried: validation raising an unexpected exception (a bug) on the network thread.
    Kept: the message still goes to the writer, as reason 'internal', so it is quarantined
    and acknowledged instead of staying unacknowledged for ever."""
    import facetrove.collector.ingest.worker as worker_module

    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(worker_module, "validate_message", broken)
    worker = IngestWorker(load_config(None, data_dir=tmp_path))
    msg = mqtt.MQTTMessage(mid=7, topic=b"facetrove/v1/cam-01/sample")
    msg.payload, msg.qos = b"payload", 1
    worker._on_message(None, None, msg)  # type: ignore[arg-type]
    delivery = worker._queue.get_nowait()
    assert isinstance(delivery.outcome, Rejected) and delivery.outcome.reason == "internal"
    assert "RuntimeError: boom" in delivery.outcome.detail and delivery.mid == 7


def test_config_env_substitution_and_key_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "c.yaml"
    monkeypatch.setenv("FT_PW", "s3cret")
    cfg.write_text(
        "broker:\n  url: mqtt://h:1884\n  password: ${FT_PW}\ningest:\n  batch_max: 64\n"
    )
    conf = load_config(cfg, data_dir=tmp_path / "d")
    assert conf.broker.password == "s3cret" and conf.ingest.batch_max == 64
    assert conf.data_dir == tmp_path / "d"
    cfg.write_text("ingest:\n  batch_ms: -1\n  colour: red\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert "ingest.batch_ms" in str(err.value) and "ingest.colour" in str(err.value)
    cfg.write_text("broker:\n  password: ${FT_NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError, match=r"broker.password: environment variable"):
        load_config(cfg)


@pytest.mark.parametrize("name", ["ingest", "serve", "backup", "quarantine", "stats"])
def test_every_command_has_help_with_example(name: str) -> None:
    result = CliRunner().invoke(collector, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "facetrove collector " + name in result.output


def test_every_command_is_documented() -> None:
    """docs/collector.md has a reference row with an example for each command of this area."""
    doc = (Path(__file__).parents[2] / "docs" / "collector.md").read_text()
    for name in ("serve", "ingest", "backup", "quarantine", "stats"):
        assert f"| `facetrove collector {name}" in doc, name
    for key in ("data_dir", "broker.url", "ingest.batch_max", "ingest.shared_group"):
        assert f"| `{key}` |" in doc, key


def test_serve_refuses_shared_group_on_embedded_broker(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("ingest:\n  shared_group: ingest\n")
    result = CliRunner().invoke(
        collector, ["serve", "--config", str(cfg), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 1 and "shared subscriptions" in result.output


def _run_worker(
    config_dir: Path, url: str, fs: FileSystem | None = None
) -> tuple[IngestWorker, threading.Event, threading.Thread]:
    config = load_config(None, data_dir=config_dir, **{"broker.url": url, "ingest.batch_ms": 5})
    worker = IngestWorker(config, fs=fs)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert worker.subscribed.wait(10)
    return worker, stop, thread


def test_disk_full_is_never_acknowledged(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Tried: a worker whose disk is full receives 50 samples and is stopped while retrying.
    Kept: nothing acknowledged, so a new worker (same client id) gets all 50 and stores them."""
    samples = many_samples(50, tag="noack")
    worker, stop, thread = _run_worker(tmp_path / "data", mosquitto.url, FullDisk())
    pub = Publisher(mosquitto.port)
    try:
        for s in samples:
            pub.publish(s.device_id, s.payload)
        pub.wait_acked(50)
        deadline = time.monotonic() + 20
        while worker.stats.storage_errors < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.stats.storage_errors >= 2
    finally:
        stop.set()
        thread.join(20)
    assert wait_rows(tmp_path / "data", 1, timeout=0.5) == 0
    worker, stop, thread = _run_worker(tmp_path / "data", mosquitto.url)
    try:
        assert wait_rows(tmp_path / "data", 50, timeout=30) == 50
    finally:
        stop.set()
        thread.join(20)
        pub.close()


def test_device_registry_and_device_mismatch(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Tried: an agent-like client announces itself, sends stats, a sample under another
    device's topic, a good sample, then drops its connection. Kept: device row online with
    software/model/stats, then offline from the last will; the mismatched sample quarantined."""
    _worker, stop, thread = _run_worker(tmp_path / "data", mosquitto.url)
    agent = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cam-09", protocol=mqtt.MQTTv311)
    offline = json.dumps({"device_id": "cam-09", "state": "offline"})
    agent.will_set(topic("cam-09", Kind.STATUS), offline, qos=1, retain=True)
    agent.connect("127.0.0.1", mosquitto.port, keepalive=5)
    agent.loop_start()
    try:
        online = {
            "device_id": "cam-09",
            "state": "online",
            "software": "facetrove 0.1.0",
            "model_id": "fer-mini-xception",
        }
        agent.publish(
            topic("cam-09", Kind.STATUS), json.dumps(online), qos=1, retain=True
        ).wait_for_publish(5)
        stats = {
            "device_id": "cam-09",
            "at": utcnow().isoformat(),
            "uptime_s": 3.0,
            "fps": 25.0,
            "frames": 75,
            "faces": 30,
            "samples_accepted": 2,
            "samples_sent": 2,
            "outbox_depth": 0,
            "outbox_bytes": 0,
            "outbox_dropped": 0,
        }
        agent.publish(topic("cam-09", Kind.STATS), json.dumps(stats), qos=1).wait_for_publish(5)
        liar = build_sample(with_comment(base_crops()[1], "liar"), "cam-01")
        agent.publish(topic("cam-09", Kind.SAMPLE), liar.payload, qos=1).wait_for_publish(5)
        good = build_sample(with_comment(base_crops()[1], "good"), "cam-09")
        agent.publish(topic("cam-09", Kind.SAMPLE), good.payload, qos=1).wait_for_publish(5)
        assert wait_rows(tmp_path / "data", 1, timeout=10) == 1
        db = connect(tmp_path / "data" / DB_NAME)
        dev = db.conn.execute(
            "SELECT state, software, model_id, stats, samples FROM devices WHERE id='cam-09'"
        ).fetchone()
        assert dev[0] == "online" and dev[1] == "facetrove 0.1.0" and dev[2] == "fer-mini-xception"
        assert json.loads(dev[3])["frames"] == 75 and dev[4] == 1
        q = db.conn.execute("SELECT reason, device_id FROM quarantine").fetchall()
        assert q == [("device_mismatch", "cam-09")]
        assert sample_count(db) == 1 and get_sample(db, good.sample_id)["device_id"] == "cam-09"
        agent.loop_stop()
        agent.socket().close()  # an abrupt drop: the broker publishes the last will
        deadline = time.monotonic() + 15
        state = "online"
        while state != "offline" and time.monotonic() < deadline:
            time.sleep(0.1)
            state = db.conn.execute("SELECT state FROM devices WHERE id='cam-09'").fetchone()[0]
        assert state == "offline"
        db.close()
    finally:
        stop.set()
        thread.join(20)


def test_unreachable_broker_is_logged_not_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: ingest pointed at a port where no broker listens (a typo in --broker).
    Kept: it keeps retrying (nothing to lose yet) but says so, naming host and port, instead
    of sitting there looking like an idle ingest."""
    from tests.support.broker import free_port

    port = free_port()
    config = load_config(None, data_dir=tmp_path, **{"broker.url": f"mqtt://127.0.0.1:{port}"})
    worker = IngestWorker(config)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    caplog.set_level("WARNING", logger="facetrove.ingest")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "cannot reach" not in caplog.text:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(15)
    assert f"cannot reach the broker at 127.0.0.1:{port}" in caplog.text
    assert not worker.subscribed.is_set()
