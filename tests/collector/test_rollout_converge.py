"""Devices converge on the model the registry assigns them, with real agents on a real
`collector serve` (embedded broker): a rollback to the bundled model after two rollouts, a
device added after a rollout, and a collector restart (the embedded broker forgets its
retained messages) all end with the agents on the assigned model, without an operator."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from facetrove import wire
from tests.agent.agent_process import Agent
from tests.collector.identity_helpers import Mqtt, add_device, wait_until
from tests.collector.ingest_helpers import FACETROVE
from tests.collector.model_helpers import model_folder
from tests.collector.rollout_helpers import cli, grows, looped_clip, models_of, run_agent
from tests.support.broker import free_port, wait_port

pytest.importorskip("onnx")


class Collector:
    """`facetrove collector serve` with its config file, restartable on the same ports."""

    def __init__(self, tmp: Path) -> None:
        self.data, self.port, self.web = tmp / "data", free_port(), free_port()
        self.cfg, self.log = tmp / "collector.yaml", tmp / "serve.log"
        self.cfg.write_text(yaml.safe_dump({"data_dir": str(self.data), "web": {"port": self.web},
                                            "broker": {"embedded_port": self.port}}))  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [FACETROVE, "collector", "serve", "--config", str(self.cfg)], stdout=out, stderr=out
            )
        wait_port(self.port, 30)
        wait_port(self.web, 60)
        assert wait_until(lambda: "subscribed" in self.log.read_text()[offset:], 30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def add(self, device: str) -> dict[str, Any]:
        return add_device(self.data, device, "--config", str(self.cfg))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def retained(self, kind: wire.Kind = wire.Kind.MODEL) -> dict[str, Any]:
        """device -> model id of the retained announcements on the broker now (or the whole
        message, for another kind)."""
        pw = json.loads((self.data / "broker" / "credentials.json").read_text())["collector"]
        sub = Mqtt(self.port, "collector", pw, "watcher-" + str(time.monotonic_ns()))
        sub.subscribe(wire.subscription(kind))
        time.sleep(1.0)
        sub.close()
        found = {wire.parse_topic(t)[0]: json.loads(p) for t, p, _ in sub.messages if p}
        return {d: m["model_id"] for d, m in found.items()} if kind is wire.Kind.MODEL else found


def test_rollback_to_the_bundled_model_after_two_rollouts(tmp_path: Path) -> None:
    col = Collector(tmp_path)
    for name in ("emo-a", "emo-b"):
        model_folder(col.data, name)
    login = col.add("cam-1")
    clip = looped_clip(tmp_path / "clip.mp4", 60)
    agent: Agent | None = None
    col.start()
    try:
        listed = cli(col.cfg, "model", "list")
        assert "bundled" in listed and "deployed" in listed, listed
        agent = run_agent(tmp_path / "cam-1", col.port, "cam-1", login, clip)
        pid = agent.proc.pid
        n = 0
        for model in ("emo-a", "emo-b"):
            cli(col.cfg, "model", "rollout", model, "--all")
            assert wait_until(lambda m=model, n=n: grows(col.data, "cam-1", m, n, agent), 90)
            n = len(models_of(col.data, "cam-1"))
        cli(col.cfg, "model", "rollback", "bundled")
        assert wait_until(lambda: grows(col.data, "cam-1", "bundled", n, agent), 90)
        assert agent.proc.pid == pid and agent.proc.poll() is None  # swapped live
        shown = json.loads(cli(col.cfg, "model", "show", "bundled"))
        assert shown["status"] == "deployed" and shown["devices"] == ["*"]
        assert json.loads(cli(col.cfg, "model", "show", "emo-b"))["status"] == "retired"
    finally:
        if agent is not None:
            agent.stop()
        col.stop()


def test_a_device_added_after_a_rollout_and_a_restart_get_the_current_model(
    tmp_path: Path,
) -> None:
    col = Collector(tmp_path)
    model_folder(col.data, "emo-a")
    col.add("cam-1")
    clip = looped_clip(tmp_path / "clip.mp4", 60)
    agents: list[Agent] = []
    col.start()
    try:
        cli(col.cfg, "model", "rollout", "emo-a", "--all")
        assert col.retained() == {"cam-1": "emo-a"}  # cam-new does not exist yet

        # Added after the rollout: its agent starts on the bundled model and switches to emo-a
        # when its first status reaches the collector, nobody rolls out again.
        login = col.add("cam-new")
        agents.append(run_agent(tmp_path / "cam-new", col.port, "cam-new", login, clip))
        assert wait_until(lambda: grows(col.data, "cam-new", "emo-a", 0, agents[0]), 120)

        # The embedded broker keeps retained messages in memory: a restart loses them, serve
        # announces every device's model again as it starts.
        agents[0].stop()
        col.stop()
        col.start()
        assert wait_until(lambda: col.retained() == {"cam-1": "emo-a", "cam-new": "emo-a"}, 30)
    finally:
        for agent in agents:
            agent.stop()
        col.stop()


def test_a_paused_device_stays_paused_after_the_collector_restarts(tmp_path: Path) -> None:
    """A device config (pause) is a retained message too: serve announces every saved config
    again as it starts, so an agent that starts after a kill -9 of the collector is paused."""
    col = Collector(tmp_path)
    login = col.add("cam-1")
    subprocess.run([FACETROVE, "collector", "user", "add", "alice", "--role", "admin",
                    "--password-stdin", "--config", str(col.cfg)],
                   input="correct horse battery\n", text=True, check=True)  # fmt: skip
    token = cli(col.cfg, "user", "token", "alice").strip()
    clip = looped_clip(tmp_path / "clip.mp4", 60)
    agents: list[Agent] = []
    col.start()
    try:
        agents.append(run_agent(tmp_path / "cam-1", col.port, "cam-1", login, clip))
        assert wait_until(lambda: models_of(col.data, "cam-1"), 120)  # a sample: a known device
        url = f"http://127.0.0.1:{col.web}/api/devices/cam-1/config"
        status, saved = _put(url, token, {"paused": True})
        assert status == 200 and saved["published"], saved
        agents[0].wait_for("config revision 1 received (paused=True)", 30)

        # The device reboots while the collector is killed: the embedded broker comes back
        # empty, the new agent process knows nothing of the pause.
        agents[0].stop()
        col.kill()
        col.start()
        assert wait_until(lambda: col.retained(wire.Kind.CONFIG).get("cam-1", {}).get("paused"),
                          30), col.retained(wire.Kind.CONFIG)  # fmt: skip
        agents.append(run_agent(tmp_path / "cam-1b", col.port, "cam-1", login, clip))
        agents[1].wait_for("config revision 1 received (paused=True)", 60)
    finally:
        for agent in agents:
            agent.stop()
        col.stop()


def _put(url: str, token: str, body: Any) -> tuple[int, Any]:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, json.loads(resp.read())
