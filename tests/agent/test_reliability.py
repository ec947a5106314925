"""Reliability of delivery, end to end: real agent processes (`facetrove agent run`) on a real face
video, a real Mosquitto started and stopped by the test, a real paho subscriber decoding every
sample with ``wire.decode_sample`` and answering it with a receipt, as the collector does.

What "none twice at the agent side" means here: the agent's id log (``--id-log``) shows every
sample confirmed (by its receipt) exactly once and never published again after that. The
subscriber may still see a QoS 1 duplicate when the broker went down between forwarding a
message and the agent receiving its PUBACK or its receipt (the agent then sends it again); that
is MQTT's at-least-once contract, which the collector absorbs by sample id. The tests count
those and bound them by what was in flight.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from facetrove import wire
from facetrove.agent.delivery.outbox import Outbox
from tests.agent.agent_process import assert_agent_sent_each_once, start_agent
from tests.agent.delivery_support import Listener, publish_retained
from tests.support.broker import Mosquitto, free_port

pytestmark = pytest.mark.slow


def test_broker_down_during_capture_loses_nothing(tmp_path: Path) -> None:
    """Tried: stop Mosquitto while the agent is capturing a real clip, keep it down 2 s, start it
    again. Kept: every sample the sampler accepted arrives, exactly the accepted ids, and the
    agent published none again after its receipt."""
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
        assert box.depth == 0 and box.counters()["confirmed"] == len(expected)
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

    from facetrove import models
    from tests.agent.delivery_support import FileServer

    served = tmp_path / "served"
    (served / "device" / "models").mkdir(parents=True)
    # A "retrained" model: the shipped one with one more metadata entry, so other bytes.
    model = onnx.load(str(models.path(models.EMOTION_ONNX)))
    model.metadata_props.add(key="revision", value="2")
    onnx.save(model, str(served / "device" / "models" / "emotion-v2.onnx"))
    data = (served / "device" / "models" / "emotion-v2.onnx").read_bytes()
    server = FileServer(served)  # stands in for the collector's /device/models/
    broker = Mosquitto(tmp_path / "mq").start()
    listener = Listener(broker.port, "model-1")

    def announce(model_id: str, sha: str) -> None:
        ann = wire.ModelAnnouncement(
            model_id=model_id,
            sha256=sha,
            url=server.url("device/models/emotion-v2.onnx"),
            size=len(data),
            classes=list(models.EMOTION_CLASSES),
        )
        publish_retained(broker.port, "model-1", wire.Kind.MODEL, ann.model_dump_json().encode())

    announce("emotion-bad", "0" * 64)
    collector = f"model_updates.collector_url=http://127.0.0.1:{server.port}"
    agent = start_agent(
        tmp_path / "a", broker.url, "model-1", "--max-fps", "12", "--set", collector
    )
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
