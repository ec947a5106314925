"""An announcement of the very file an agent runs (a rollback to the bundled model for a device
that never left it, a rollback to the model a canary kept after refusing another): nothing is
downloaded, the agent takes the collector's name for it (its samples and status carry that
id, so the dashboard counts one model, not two) and a refusal it reported before is cleared
(the device runs what it is assigned). A real agent on the face clip, a real Mosquitto."""

from __future__ import annotations

import hashlib
from pathlib import Path

from facetrove import models
from tests.agent.agent_process import start_agent
from tests.agent.delivery_support import FileServer, Listener, announce_model
from tests.support.broker import Mosquitto
from tests.support.data import looped_clip


def test_the_model_in_use_announced_takes_its_name_and_clears_a_refusal(tmp_path: Path) -> None:
    served = tmp_path / "served" / "device" / "models"
    served.mkdir(parents=True)
    junk = b"not an onnx model " * 50
    (served / "junk.onnx").write_bytes(junk)
    server = FileServer(tmp_path / "served")
    broker = Mosquitto(tmp_path / "mq").start()
    device = "in-use-1"
    listener = Listener(broker.port, device)
    shipped = models.path(models.EMOTION_ONNX).read_bytes()
    collector = f"model_updates.collector_url=http://127.0.0.1:{server.port}"
    clip = looped_clip(tmp_path / "clip.mp4", 60)
    agent = start_agent(
        tmp_path / "a", broker.url, device, "--max-fps", "4", "--set", collector, source=str(clip)
    )
    try:
        assert listener.wait(lambda: len(listener.samples) > 0, 60), agent.stderr[-2000:]
        first = listener.samples[listener.order[0]].header.prelabel
        assert first is not None and first.model_id == "emotion_mini_xception"

        # A refused model: the agent keeps the shipped one and says why.
        announce_model(broker.port, device, "junk", junk, server.url("device/models/junk.onnx"))
        assert listener.wait(lambda: bool(listener.statuses[-1].get("model_error")), 30)

        # Rolled back to the shipped file, under the registry's name; it is not served here, so
        # a download would fail: none happens.
        none = server.url("device/models/none.onnx")
        announce_model(broker.port, device, "bundled", shipped, none)
        assert listener.wait(
            lambda: (
                listener.statuses[-1].get("model_id") == "bundled"
                and not listener.statuses[-1].get("model_error")
            ),
            30,
        ), listener.statuses[-3:]
        n = len(listener.order)
        assert listener.wait(lambda: len(listener.order) > n + 2, 60)
        tagged = [listener.samples[s].header.prelabel for s in listener.order[n + 1 :]]
        assert {p.model_id for p in tagged if p is not None} == {"bundled"}
        assert {p.model_sha256 for p in tagged if p is not None} == {
            hashlib.sha256(shipped).hexdigest()
        }
        assert agent.proc.poll() is None
        assert "none.onnx" not in agent.stderr
    finally:
        agent.stop()
        listener.close()
        broker.stop()
        server.close()
