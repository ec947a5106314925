"""Receipts: a sample leaves the outbox when the collector says so, not at the broker's PUBACK.

The re-send rules are unit-tested on a fake clock; the rest runs the real runner and publisher
against a real Mosquitto and a subscriber that answers like the collector (or, on purpose, does
not answer, answers late, refuses, or forges).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from facetrove import wire
from facetrove.agent.capture.source import ArraySource
from facetrove.agent.config import AgentConfig
from facetrove.agent.delivery.outbox import Outbox
from facetrove.agent.delivery.receipts import AwaitingReceipts
from facetrove.agent.outcome import EXIT_OK, EXIT_UNDELIVERED
from facetrove.agent.runner import Runner
from tests.agent.delivery_support import FakePipeline, Listener, face_crop, frames, publish_retained
from tests.support.broker import Mosquitto
from tests.support.data import face_file


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_overdue_sample_is_sent_again_only_when_the_collector_shows_life() -> None:
    clock = Clock()
    w = AwaitingReceipts(timeout_s=10, backoff_max_s=100, clock=clock)
    w.published("a")
    w.published("b")
    clock.now += 9.9
    assert w.due() == []
    clock.now += 0.2  # overdue, but nothing came from the collector: it may be down, the
    assert w.due() == []  # broker still holds the first copy
    w.confirmed(["b"])  # a receipt for another sample: the collector is up, "a" got lost
    assert w.due() == ["a"] and len(w) == 0
    w.published("a")  # second attempt: the wait doubles
    clock.now += 19.9
    w.reconnected()
    assert w.due() == []
    clock.now += 0.2
    assert w.due() == ["a"]  # a reconnect since it was sent counts as a sign of life
    assert w.attempts("a") == 2


def test_ingest_subscribing_makes_every_waiting_sample_due_at_once() -> None:
    """Tried: samples deep in their back-off (fourth attempt: 80 s wait) when ingest says it has
    just (re)subscribed. A restarted embedded broker dropped what it acknowledged before that and
    an idle collector sends no other receipt. Kept: both due at once, and only once."""
    clock = Clock()
    w = AwaitingReceipts(timeout_s=10, backoff_max_s=900, clock=clock)
    for _ in range(4):
        w.published("a")
    w.published("b")
    clock.now += 1
    assert w.due() == []
    w.collector_subscribed()
    assert sorted(w.due()) == ["a", "b"]
    assert w.due() == [] and len(w) == 0


def test_backoff_is_capped_and_silence_is_bounded() -> None:
    clock = Clock()
    w = AwaitingReceipts(timeout_s=10, backoff_max_s=35, clock=clock)
    for _ in range(5):
        w.published("a")
        clock.now += 35
        assert w.due() == ["a"]  # silent collector: sent again after backoff_max_s at most
    assert w.attempts("a") == 5 and w.resent == 5
    w.published("a")
    w.forget("a")
    clock.now += 1000
    assert w.due() == [] and w.attempts("a") == 0


@pytest.fixture(scope="module")
def crop() -> bytes:
    return face_crop(face_file("single_face.jpg"))


def _config(tmp_path: Path, port: int, device: str, **receipts: Any) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "device_id": device,
            "source": {"spec": "frames.mp4"},
            "broker": {"url": f"mqtt://127.0.0.1:{port}", "reconnect_max_s": 1},
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "run": {"stats_interval_s": 0.2, "flush_timeout_s": 2, "drain_timeout_s": 20},
            "receipts": {"timeout_s": 0.5, "backoff_max_s": 2, **receipts},
        }
    )


def _run(cfg: AgentConfig, crop: bytes, n: int = 12) -> Any:
    pipe = FakePipeline(cfg.device_id, crop)
    return Runner(
        cfg, source_factory=lambda c: ArraySource(frames(n)), pipeline_factory=lambda c, t: pipe
    ).run()


def test_lost_receipts_mean_resends_and_nothing_is_deleted_early(
    tmp_path: Path, mosquitto: Mosquitto, crop: bytes
) -> None:
    """The collector stays silent on the first copy of every third sample (as if the broker had
    lost it after its PUBACK). Kept: those are sent again and confirmed; the run drains; every
    sample arrives; the others were sent once."""
    listener = Listener(mosquitto.port, "cam-r1")
    listener.answer_if = lambda index, copy: index % 3 != 0 or copy > 1
    try:
        result = _run(_config(tmp_path, mosquitto.port, "cam-r1"), crop)
        assert result.exit_code == EXIT_OK and result.reason == "drained", result
        ids = result.summary["accepted_ids"]
        assert listener.wait(lambda: set(listener.samples) == set(ids))
        assert sorted(listener.duplicates()) == sorted(ids[0::3])
        assert result.summary["samples_sent"] == 12 and result.summary["outbox_depth"] == 0
    finally:
        listener.close()
    box = Outbox(tmp_path / "outbox.db")
    assert box.counters()["confirmed"] == 12
    box.close()


def test_quarantined_samples_are_deleted_and_never_sent_again(
    tmp_path: Path, mosquitto: Mosquitto, crop: bytes
) -> None:
    """The collector refuses two samples for good. Kept: the agent deletes them (counted as
    quarantined, one log line each with the reason), does not send them again, drains."""
    listener = Listener(mosquitto.port, "cam-r2")
    refused: list[str] = []

    def answer(index: int, copy: int) -> bool:
        if index in (2, 5) and len(refused) < 2:
            sid = listener.order[index]
            listener.refuse[sid] = "image"
            refused.append(sid)
        return True

    listener.answer_if = answer
    try:
        result = _run(_config(tmp_path, mosquitto.port, "cam-r2"), crop)
        assert result.exit_code == EXIT_OK and result.reason == "drained", result
        assert listener.duplicates() == {}
        assert result.summary["samples_sent"] == 10
    finally:
        listener.close()
    box = Outbox(tmp_path / "outbox.db")
    c = box.counters()
    box.close()
    assert (c["confirmed"], c["quarantined"], box.depth) == (10, 2, 0)


def test_silent_collector_keeps_everything_and_adds_no_copies(
    tmp_path: Path, mosquitto: Mosquitto, crop: bytes
) -> None:
    """No collector answers (ingest down, broker up), and a stranger publishes a receipt on this
    device's topic that names another device. Kept: all 12 samples stay in the outbox (exit 3,
    "kept"); none was sent twice (the broker still holds the first copies)."""
    listener = Listener(mosquitto.port, "cam-r3", receipts=False)
    cfg = _config(tmp_path, mosquitto.port, "cam-r3", timeout_s=0.3, backoff_max_s=30)
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"drain_timeout_s": 3})})
    try:
        pipe = FakePipeline("cam-r3", crop)
        runner = Runner(
            cfg,
            source_factory=lambda c: ArraySource(frames(12)),
            pipeline_factory=lambda c, t: pipe,
        )
        forged: list[str] = []

        def forge() -> None:
            ids = list(listener.samples)
            forged.extend(ids)
            doc = wire.build_receipts("cam-other", ids)[0].model_dump_json().encode()
            publish_retained(mosquitto.port, "cam-r3", wire.Kind.RECEIPT, doc)

        result_box: list[Any] = []
        t = threading.Thread(target=lambda: result_box.append(runner.run()))
        t.start()
        assert listener.wait(lambda: len(listener.samples) == 12, 20)
        forge()
        t.join(30)
        result = result_box[0]
        assert result.exit_code == EXIT_UNDELIVERED and result.reason == "timeout", result
        assert result.summary["outbox_depth"] == 12 and forged
        assert listener.duplicates() == {}
    finally:
        listener.close()


def test_receipts_off_deletes_at_the_puback(
    tmp_path: Path, mosquitto: Mosquitto, crop: bytes
) -> None:
    """receipts.enabled: false, for a collector that sends none: the PUBACK deletes."""
    listener = Listener(mosquitto.port, "cam-r4", receipts=False)
    try:
        result = _run(_config(tmp_path, mosquitto.port, "cam-r4", enabled=False), crop)
        assert result.exit_code == EXIT_OK and result.reason == "drained", result
        assert result.summary["samples_sent"] == 12
    finally:
        listener.close()
