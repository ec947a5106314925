"""Closing the loop end to end: real faces -> a version -> `collector train` (1 epoch) -> the
registry -> a canary rollout from a real `collector serve` (embedded broker) to one of two real
agents, which switch without restarting; a model that does not load and one whose sha256 does not
match are refused by the agent (old model kept, the reason in its status and in the store);
rollback. Runs the commands of docs/training.md's rollout section."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from facetrove import wire
from tests.agent.agent_process import Agent
from tests.collector.identity_helpers import Mqtt, add_device, wait_until
from tests.collector.ingest_helpers import FACETROVE
from tests.collector.model_helpers import model_folder
from tests.collector.rollout_helpers import (
    cli,
    grows,
    looped_clip,
    model_error,
    models_of,
    run_agent,
)
from tests.collector.train.helpers import need_train_extra, store_with_version
from tests.support.broker import free_port, wait_port

A, B = "cam-a", "cam-b"


def test_canary_rollout_refusals_and_rollback_with_real_agents(tmp_path: Path) -> None:
    need_train_extra()
    data = tmp_path / "data"
    store = store_with_version(data, n=30, name="v1")
    store.db.close()
    port, web = free_port(), free_port()
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data), "web": {"port": web},
                                   "broker": {"embedded_port": port}}))  # fmt: skip
    trained = cli(cfg, "train", "v1", "--name", "emo-ft", "--epochs", "1", "--seed", "1")
    assert "registered emo-ft as a candidate" in trained
    model_folder(data, "emo-base")  # the bundled network with other bytes: the deployed one
    junk = model_folder(data, "emo-junk") / "model.onnx"
    junk.write_bytes(b"this is not an ONNX model " * 100)  # registered as is: it cannot load
    listed = cli(cfg, "model", "list")
    assert all(m in listed for m in ("emo-ft", "emo-base", "emo-junk")), listed
    logins = {d: add_device(data, d, "--config", str(cfg)) for d in (A, B)}
    clip = looped_clip(tmp_path / "clip.mp4", 12)

    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([FACETROVE, "collector", "serve", "--config", str(cfg)],
                                 stdout=out, stderr=out)  # fmt: skip
    agents: dict[str, Agent] = {}
    try:
        wait_port(port, 30)
        wait_port(web, 60)
        assert wait_until(lambda: "subscribed" in log.read_text(), 30)
        cli(cfg, "model", "rollout", "emo-base", "--all")
        for d, login in logins.items():
            agents[d] = run_agent(tmp_path / d, port, d, login, clip)
        pids = {d: a.proc.pid for d, a in agents.items()}
        for d in (A, B):
            assert wait_until(lambda d=d: grows(data, d, "emo-base", 0, agents[d]), 90), d

        # Canary: only cam-a switches to the trained model, without a restart.
        n_b = len(models_of(data, B))
        cli(cfg, "model", "rollout", "emo-ft", "--devices", A)
        assert wait_until(lambda: grows(data, A, "emo-ft", 0, agents[A]), 60)
        assert wait_until(lambda: grows(data, B, "emo-base", n_b, agents[B]), 60)
        assert "emo-ft" not in models_of(data, B)
        assert "candidate" not in json.loads(cli(cfg, "model", "show", "emo-ft"))["status"]

        # A model that does not load: refused, the canary keeps emo-ft and says why.
        cli(cfg, "model", "rollout", "emo-junk", "--devices", A)
        assert wait_until(lambda: model_error(data, A) is not None, 60)
        assert "emo-junk" in str(model_error(data, A))
        n_a = len(models_of(data, A))
        assert wait_until(lambda: grows(data, A, "emo-ft", n_a, agents[A]), 60)

        # A wrong sha256 (as if the file changed on the way): refused before it is loaded.
        collector_pw = json.loads((data / "broker" / "credentials.json").read_text())["collector"]
        base = json.loads(cli(cfg, "model", "show", "emo-base"))
        ann = wire.ModelAnnouncement(
            model_id="emo-wrong-sha", sha256="0" * 64, size=base["size"],
            url=f"{logins[A]['collector_url']}/device/models/emo-base/model.onnx",
            classes=base["classes"],
        )  # fmt: skip
        admin = Mqtt(port, "collector", collector_pw, "facetrove-test-admin")
        admin.publish(wire.topic(A, wire.Kind.MODEL), ann.model_dump_json().encode(), retain=True)
        admin.close()
        assert wait_until(lambda: "sha256 mismatch" in str(model_error(data, A)), 60)
        n_a = len(models_of(data, A))
        assert wait_until(lambda: grows(data, A, "emo-ft", n_a, agents[A]), 60)
        used_a = models_of(data, A)
        assert "emo-junk" not in used_a and "emo-wrong-sha" not in used_a

        # Rollback of the canary to the deployed model: it switches back, the error clears.
        n_a = len(used_a)
        cli(cfg, "model", "rollback", "emo-base", "--devices", A)
        assert wait_until(lambda: grows(data, A, "emo-base", n_a, agents[A]), 60)
        assert wait_until(lambda: model_error(data, A) is None, 30)
        assert {d: a.proc.pid for d, a in agents.items()} == pids
        assert all(a.proc.poll() is None for a in agents.values()), "an agent restarted"
        shown = json.loads(cli(cfg, "model", "show", "emo-ft"))
        assert shown["status"] == "retired" and shown["devices"] == []
        kept = sorted(p.name for p in (tmp_path / A / "models").iterdir())
        assert not [k for k in kept if k.endswith(".part")], kept
    finally:
        for agent in agents.values():
            agent.stop()
        serve.terminate()
        serve.wait(30)
    assert "emo-ft" not in models_of(data, B)
