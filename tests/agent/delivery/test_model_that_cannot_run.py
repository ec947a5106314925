"""A rolled-out model that loads but cannot pre-label a face: metadata that names another input
size than its graph takes, or other classes than it has outputs (a hand-made or mis-exported
file; its sha256 and its announced classes match). The agent tries it on one face before the
swap: it keeps the old model, reports the refusal in its status and goes on sending samples.
A real agent on the face clip, a real Mosquitto, the file over HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import pytest

from facetrove import models, wire
from tests.agent.agent_process import start_agent
from tests.agent.delivery_support import FileServer, Listener, publish_retained
from tests.support.broker import Mosquitto
from tests.support.data import looped_clip


def _nan_model() -> bytes:
    """Answers NaN for every face (a training run that diverged), with the shipped metadata."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 64, 64])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 7])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [1, 7], [0.0] * 7)
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "one"], ["m1"]),
        helper.make_node("Mul", ["m1", "zero"], ["z"]),
        helper.make_node("Div", ["z", "zero"], ["probabilities"]),  # 0 / 0
    ]
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(nodes, "nan", [x], [y], initializer=[zero, one])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    proto.ir_version = 8
    for prop in onnx.load(str(models.path(models.EMOTION_ONNX))).metadata_props:
        proto.metadata_props.add(key=prop.key, value=prop.value)
    return proto.SerializeToString()


def _with_metadata(**changes: str) -> bytes:
    proto = onnx.load(str(models.path(models.EMOTION_ONNX)))
    for prop in proto.metadata_props:
        if prop.key in changes:
            prop.value = changes[prop.key]
    return proto.SerializeToString()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"input_size": "48"}, "48"),  # the graph takes 64x64
        ({"classes": "angry,happy,neutral,sad,surprise"}, "5"),  # the graph answers 7
        ({"nan": "yes"}, "NaN"),
    ],
    ids=["input-size", "classes", "nan"],
)
def test_a_model_that_cannot_run_on_a_face_is_refused_and_the_old_one_kept(
    tmp_path: Path, changes: dict[str, str], reason: str
) -> None:
    data = _nan_model() if "nan" in changes else _with_metadata(**changes)
    classes = [
        c.strip() for c in changes.get("classes", ",".join(models.EMOTION_CLASSES)).split(",")
    ]
    served = tmp_path / "served" / "device" / "models"
    served.mkdir(parents=True)
    (served / "bad.onnx").write_bytes(data)
    server = FileServer(tmp_path / "served")
    broker = Mosquitto(tmp_path / "mq").start()
    device = "cannot-run-1"
    listener = Listener(broker.port, device)
    collector = f"model_updates.collector_url=http://127.0.0.1:{server.port}"
    clip = looped_clip(tmp_path / "clip.mp4", 60)
    agent = start_agent(
        tmp_path / "a", broker.url, device, "--max-fps", "4", "--set", collector, source=str(clip)
    )
    try:
        assert listener.wait(lambda: len(listener.samples) > 0, 60), agent.stderr[-2000:]
        ann = wire.ModelAnnouncement(
            model_id="bad", sha256=hashlib.sha256(data).hexdigest(),
            url=server.url("device/models/bad.onnx"), size=len(data), classes=classes,
        )  # fmt: skip
        publish_retained(broker.port, device, wire.Kind.MODEL, ann.model_dump_json().encode())
        assert listener.wait(lambda: bool(listener.statuses[-1].get("model_error")), 30), (
            listener.statuses[-3:],
            agent.stderr[-2000:],
        )
        error = listener.statuses[-1]["model_error"]
        assert "bad" in error and reason in error, error
        n = len(listener.order)
        assert listener.wait(lambda: len(listener.order) > n + 2, 60), agent.stderr[-2000:]
        tagged = [listener.samples[s].header.prelabel for s in listener.order[n:]]
        assert {p.model_id for p in tagged if p is not None} == {"emotion_mini_xception"}
        assert agent.proc.poll() is None, agent.stderr[-2000:]
        assert not (tmp_path / "a" / "models" / f"{ann.sha256}.onnx").exists()
    finally:
        agent.stop()
        listener.close()
        broker.stop()
        server.close()
