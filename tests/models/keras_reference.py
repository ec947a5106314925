"""An independent NumPy forward pass of a Keras HDF5 model, to check the converted ONNX against.

Written separately from models/convert_keras.py on purpose (no shared code): it runs the layers as
Keras defines them, channels-last and with BatchNormalization left unfolded, straight from the file.
Slow (tens of milliseconds a face) and only for tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pad_same(x: np.ndarray, k: int, s: int, value: float) -> np.ndarray:
    """Pad an (H, W, C) array the way TensorFlow's 'same' does (extra pixel bottom/right)."""
    padding = []
    for size in x.shape[:2]:
        out = (size + s - 1) // s
        need = max(0, (out - 1) * s + k - size)
        padding.append((need // 2, need - need // 2))
    return np.pad(x, [*padding, (0, 0)], constant_values=value)


def _windows(x: np.ndarray, k: int, s: int, padding: str, value: float = 0.0) -> np.ndarray:
    """(Ho, Wo, C, k, k) view of the k x k patches of x at stride s."""
    if padding == "same":
        x = _pad_same(x, k, s, value)
    return sliding_window_view(x, (k, k), axis=(0, 1))[::s, ::s]


class KerasReference:
    """Loads model_config + model_weights from a Keras 2 HDF5 file and runs it on one image."""

    def __init__(self, hdf5: Path) -> None:
        with h5py.File(hdf5, "r") as f:
            self.layers: list[dict[str, Any]] = json.loads(f.attrs["model_config"])["config"][
                "layers"
            ]
            self.weights: dict[str, dict[str, np.ndarray]] = {}
            for layer in self.layers:
                arrays: dict[str, np.ndarray] = {}
                group = f["model_weights"][layer["name"]]
                for key in group.attrs.get("weight_names", []):
                    name = key.decode() if isinstance(key, bytes) else key
                    arrays[name.split("/")[-1].split(":")[0]] = group[name][()].astype(np.float64)
                self.weights[layer["name"]] = arrays

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities for one preprocessed (H, W) or (H, W, 1) image."""
        values: dict[str, np.ndarray] = {}
        for layer in self.layers:
            kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
            ins = (
                [values[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
            )
            w = self.weights[name]
            if kind == "InputLayer":
                out = image.reshape(*image.shape[:2], -1).astype(np.float64)
            elif kind == "Conv2D":
                k, s = cfg["kernel_size"][0], cfg["strides"][0]
                patches = _windows(ins[0], k, s, cfg["padding"])
                out = np.einsum("hwcij,ijco->hwo", patches, w["kernel"])
                if cfg["use_bias"]:
                    out = out + w["bias"]
            elif kind == "SeparableConv2D":
                k, s = cfg["kernel_size"][0], cfg["strides"][0]
                patches = _windows(ins[0], k, s, cfg["padding"])
                depth = np.einsum("hwcij,ijc->hwc", patches, w["depthwise_kernel"][..., 0])
                out = depth @ w["pointwise_kernel"][0, 0]
            elif kind == "BatchNormalization":
                out = (ins[0] - w["moving_mean"]) / np.sqrt(
                    w["moving_variance"] + cfg["epsilon"]
                ) * w["gamma"] + w["beta"]
            elif kind == "Activation" and cfg["activation"] == "relu":
                out = np.maximum(ins[0], 0.0)
            elif kind == "Activation" and cfg["activation"] == "softmax":
                e = np.exp(ins[0] - ins[0].max())
                out = e / e.sum()
            elif kind == "MaxPooling2D":
                k, s = cfg["pool_size"][0], cfg["strides"][0]
                out = _windows(ins[0], k, s, cfg["padding"], -np.inf).max(axis=(3, 4))
            elif kind == "Add":
                out = np.sum(ins, axis=0)
            elif kind == "GlobalAveragePooling2D":
                out = ins[0].mean(axis=(0, 1))
            else:
                raise NotImplementedError(f"{name}: {kind}")
            values[name] = out
        return values[self.layers[-1]["name"]]
