"""Clear errors, end to end: a real agent process against a real Mosquitto (or none), each bad
setting giving its exit code and a message that names the problem, and losing nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facetrove.agent.delivery.outbox import Outbox
from tests.agent.agent_process import start_agent
from tests.support.broker import Mosquitto, free_port

pytestmark = pytest.mark.slow


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
