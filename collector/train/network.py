"""The emotion network as a PyTorch module, rebuilt from an ONNX file's own graph and weights.

The bundled mini-Xception (models/convert_keras.py) is a small graph of Conv, Relu, MaxPool, Add,
GlobalAveragePool, Flatten and Softmax with BatchNorm folded into the convolutions. ``OnnxNet``
runs that graph node for node with ``nn.Conv2d`` layers holding the file's initializers, so the
module computes what onnxruntime computes, and ``export_onnx`` writes the trained weights back
into the same graph: the agent gets a file of the shape it already runs.

Stages: a node's stage is the number of residual ``Add`` nodes before it in the graph (stage 0:
the entry convolutions and the first residual module). The last convolution is the head.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

SUPPORTED = (
    "Conv",
    "Relu",
    "MaxPool",
    "Add",
    "GlobalAveragePool",
    "Flatten",
    "Softmax",
    "Identity",
)


class NetworkError(ValueError):
    """An ONNX graph this module cannot rebuild; the message is meant for the user."""


@dataclass(frozen=True)
class Step:
    """One ONNX node to run."""

    op: str
    inputs: tuple[str, ...]
    output: str
    key: str  # conv module key ("" for other ops)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # F.pad order: left, right, top, bottom
    attrs: dict[str, Any] = field(default_factory=dict)


def _key(name: str) -> str:
    return name.replace(".", "__")


def _pads(node: onnx.NodeProto) -> tuple[int, int, int, int]:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    return int(left), int(right), int(top), int(bottom)


class OnnxNet(nn.Module):  # type: ignore[misc,unused-ignore]  # nn is Any without torch
    """A PyTorch module that runs an ONNX emotion graph; ``forward`` returns logits."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.input_name = model.graph.input[0].name
        self.convs = nn.ModuleDict()
        self.stage: dict[str, int] = {}
        self.init_names: dict[str, tuple[str, str]] = {}  # conv key -> (weight, bias) initializer
        steps: list[Step] = []
        adds = 0
        for node in model.graph.node:
            if node.op_type not in SUPPORTED:
                raise NetworkError(
                    f"ONNX node {node.name or node.op_type} ({node.op_type}) is not supported;"
                    f" the trainer rebuilds graphs of {', '.join(SUPPORTED)}"
                )
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            key = ""
            if node.op_type == "Conv":
                key = _key(node.output[0])
                if any(i not in inits for i in node.input[1:]):
                    raise NetworkError(f"convolution {node.name}: weights are not initializers")
                weight = inits[node.input[1]]
                bias = inits[node.input[2]] if len(node.input) > 2 else np.zeros(weight.shape[0])
                if weight.ndim != 4 or np.shape(bias) != (weight.shape[0],):
                    raise NetworkError(
                        f"convolution {node.name}: weights {weight.shape} and bias"
                        f" {np.shape(bias)} do not fit together"
                    )
                groups = int(attrs.get("group", 1))
                conv = nn.Conv2d(
                    weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                    stride=tuple(attrs.get("strides", [1, 1])), groups=groups, bias=True,
                )  # fmt: skip
                with torch.no_grad():
                    conv.weight.copy_(torch.from_numpy(np.array(weight, np.float32)))
                    bias_of(conv).copy_(torch.from_numpy(np.array(bias, np.float32)))
                self.convs[key] = conv
                self.stage[key] = adds
                self.init_names[key] = (
                    node.input[1],
                    node.input[2] if len(node.input) > 2 else "",
                )
            elif node.op_type == "MaxPool":
                attrs["kernel"] = list(attrs["kernel_shape"])
            elif node.op_type == "Add":
                adds += 1
            pads = _pads(node) if node.op_type in ("Conv", "MaxPool") else (0, 0, 0, 0)
            steps.append(Step(node.op_type, tuple(node.input), node.output[0], key, pads, attrs))
        if not steps or steps[-1].op not in ("Softmax", "Identity"):
            raise NetworkError("the graph does not end in a Softmax")
        while steps and steps[-1].op == "Identity":
            steps.pop()
        if not steps or steps[-1].op != "Softmax":
            raise NetworkError("the graph does not end in a Softmax")
        self.steps = steps[:-1]  # forward gives logits; the Softmax is applied by callers
        self.logits_name = steps[-1].inputs[0]
        conv_keys = list(self.convs)
        if not conv_keys:
            raise NetworkError("the graph has no convolution")
        self.head = conv_keys[-1]
        self.stages = adds + 1

    def conv(self, key: str) -> nn.Conv2d:
        return cast(nn.Conv2d, self.convs[key])

    def conv_items(self) -> list[tuple[str, nn.Conv2d]]:
        return [(k, self.conv(k)) for k in self.convs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.input_name: x}
        for s in self.steps:
            a = values[s.inputs[0]]
            if s.op == "Conv":
                if any(s.pads):
                    a = F.pad(a, s.pads)
                out = self.conv(s.key)(a)
            elif s.op == "Relu":
                out = F.relu(a)
            elif s.op == "MaxPool":
                if any(s.pads):
                    a = F.pad(a, s.pads, value=float("-inf"))
                out = F.max_pool2d(a, s.attrs["kernel"], stride=s.attrs.get("strides"))
            elif s.op == "Add":
                out = a + values[s.inputs[1]]
            elif s.op == "GlobalAveragePool":
                out = a.mean(dim=(2, 3), keepdim=True)
            elif s.op == "Flatten":
                out = a.flatten(1)
            elif s.op == "Softmax":
                out = F.softmax(a, dim=1)
            else:  # Identity
                out = a
            values[s.output] = out
        return values[self.logits_name]

    @property
    def classes_out(self) -> int:
        return int(self.conv(self.head).out_channels)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Fresh random weights everywhere (``--init scratch``), from ``generator``."""
        for _, conv in self.conv_items():
            fan_in = conv.weight[0].numel()
            with torch.no_grad():
                conv.weight.copy_(
                    torch.randn(conv.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5
                )
                bias_of(conv).zero_()

    def set_classes(
        self, old: Sequence[str], new: Sequence[str], generator: torch.Generator
    ) -> list[str]:
        """Give the head one output per class of ``new``; the classes ``old`` shares keep their
        rows, the others start small and random. Returns the classes that kept their rows."""
        if list(old) == list(new):
            return list(new)
        conv = self.conv(self.head)
        fresh = nn.Conv2d(
            conv.in_channels, len(new), cast(Any, conv.kernel_size),
            stride=cast(Any, conv.stride), groups=conv.groups, bias=True,
        )  # fmt: skip
        kept = [c for c in new if c in old]
        std = float(conv.weight.detach().std())
        with torch.no_grad():
            fresh.weight.copy_(torch.randn(fresh.weight.shape, generator=generator) * std)
            bias_of(fresh).fill_(float(bias_of(conv).detach().mean()))
            for i, c in enumerate(new):
                if c in old:
                    fresh.weight[i] = conv.weight[list(old).index(c)]
                    bias_of(fresh)[i] = bias_of(conv)[list(old).index(c)]
        self.convs[self.head] = fresh
        return kept

    def freeze(self, stages: int) -> None:
        """Stop training the convolutions of the first ``stages`` stages (never the head)."""
        for key, conv in self.conv_items():
            trainable = key == self.head or self.stage[key] >= stages
            for p in conv.parameters():
                p.requires_grad_(trainable)


def bias_of(conv: nn.Conv2d) -> torch.Tensor:
    assert conv.bias is not None  # every conv here is built with bias=True
    return conv.bias


def load_onnx(data: bytes) -> onnx.ModelProto:
    """Parse ONNX bytes; NetworkError when they are not a model."""
    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, onnx.onnx_cpp2py_export.shape_inference.InferenceError):
        raise NetworkError("not a valid ONNX model") from None
    except Exception as exc:  # protobuf's DecodeError has no stable import path
        if type(exc).__name__ != "DecodeError":
            raise
        raise NetworkError("not an ONNX file (protobuf cannot parse it)") from None
    return model


def export_onnx(net: OnnxNet, template: onnx.ModelProto, metadata: Mapping[str, str]) -> bytes:
    """The template graph with ``net``'s weights and ``metadata`` (replacing the template's),
    serialised deterministically."""
    model = copy.deepcopy(template)
    by_name = {i.name: i for i in model.graph.initializer}
    state = {k: (c.weight.detach().cpu(), bias_of(c).detach().cpu()) for k, c in net.conv_items()}
    for key, (w_name, b_name) in net.init_names.items():
        weight, bias = state[key]
        by_name[w_name].CopyFrom(numpy_helper.from_array(weight.numpy().astype(np.float32), w_name))
        if b_name:
            by_name[b_name].CopyFrom(
                numpy_helper.from_array(bias.numpy().astype(np.float32), b_name)
            )
    out = model.graph.output[0].type.tensor_type.shape.dim
    if len(out) == 2:
        out[1].ClearField("dim_param")
        out[1].dim_value = net.classes_out
    del model.metadata_props[:]
    helper.set_model_props(model, dict(sorted(metadata.items())))
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString(deterministic=True)
    return data
