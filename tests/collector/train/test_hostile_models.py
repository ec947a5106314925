"""Models handed to ``--init`` / ``--compare`` that parse as ONNX but are not what the trainer
expects: one-line errors before any training, nothing left behind; a model the agent runs
(fixed batch of one) is a valid ``--compare``; report.json is strict JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from tests.collector.train.helpers import need_train_extra, store_with_version
from tests.collector.versions.factory import FactoryStore

need_train_extra()

from facetrove import models as bundled_models  # noqa: E402
from facetrove.agent.capture.prelabel import OnnxEmotionClassifier  # noqa: E402
from facetrove.collector.cli import collector  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FactoryStore:
    return store_with_version(tmp_path_factory.mktemp("data"), n=20)


def _bundled() -> onnx.ModelProto:
    return onnx.load(bundled_models.path(bundled_models.EMOTION_ONNX))


def _cli(store: FactoryStore, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        collector,
        ["train", "v1", "--epochs", "1", *args, "--data-dir", str(store.data_dir)],
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def _identity_with_emotion_metadata(path: Path) -> Path:
    """A valid ONNX file carrying the bundled model's metadata, but an Identity graph."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 64, 64])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph)
    helper.set_model_props(model, {p.key: p.value for p in _bundled().metadata_props})
    onnx.save(model, path)
    return path


def _wrong_bias_shape(path: Path) -> Path:
    """The bundled model with one convolution's bias of the wrong length."""
    model = _bundled()
    conv = next(n for n in model.graph.node if n.op_type == "Conv" and len(n.input) > 2)
    init = next(i for i in model.graph.initializer if i.name == conv.input[2])
    init.CopyFrom(numpy_helper.from_array(np.zeros(2, np.float32), init.name))
    onnx.save(model, path)
    return path


def _batch_of_one(path: Path) -> Path:
    """The bundled model exported with a fixed batch of 1 (torch.onnx.export's default)."""
    model = _bundled()
    for value in (*model.graph.input, *model.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = 1
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("make", "option", "message"),
    [
        (_identity_with_emotion_metadata, "--init", "does not end in a Softmax"),
        (_wrong_bias_shape, "--init", "bias"),
        (_identity_with_emotion_metadata, "--compare", "cannot be compared"),
    ],
    ids=["init-identity", "init-bias-shape", "compare-identity"],
)
def test_a_model_it_cannot_use_is_one_line_and_leaves_nothing(
    store: FactoryStore, tmp_path: Path, make: object, option: str, message: str
) -> None:
    bad = make(tmp_path / "bad.onnx")  # type: ignore[operator]
    models = store.data_dir / "models"
    before = sorted(p.name for p in models.iterdir()) if models.is_dir() else []
    code, out = _cli(store, "--name", "hostile", option, str(bad))
    assert code == 1, out
    assert message in out and "Traceback" not in out, out
    assert "epoch 1/1" not in out, "the model must be refused before training"
    after = sorted(p.name for p in models.iterdir()) if models.is_dir() else []
    assert after == before


def test_a_model_with_a_fixed_batch_of_one_can_be_compared(
    store: FactoryStore, tmp_path: Path
) -> None:
    one = _batch_of_one(tmp_path / "batch1.onnx")
    with OnnxEmotionClassifier(one) as clf:  # the agent runs it as it is
        assert clf.classes
    code, out = _cli(store, "--name", "cmp1", "--compare", str(one))
    assert code == 0, out
    report = json.loads((store.data_dir / "models" / "cmp1" / "report.json").read_text())
    first = report["evaluations"][0]["models"]
    assert first["baseline"]["top1"] is not None and first["new"]["top1"] is not None


def test_report_and_card_are_strict_json(store: FactoryStore) -> None:
    code, out = _cli(store, "--name", "strict1")
    assert code == 0, out

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    for name in ("report.json", "card.json"):
        text = (store.data_dir / "models" / "strict1" / name).read_text()
        json.loads(text, parse_constant=refuse)


def test_a_name_the_registry_holds_is_refused_before_training(store: FactoryStore) -> None:
    """A model folder deleted by hand stays in the registry: training that name again used to
    run, write a folder whose file does not match the registry, then fail (exit 1)."""
    import shutil

    code, out = _cli(store, "--name", "again1")
    assert code == 0, out
    shutil.rmtree(store.data_dir / "models" / "again1")
    code, out = _cli(store, "--name", "again1", "--seed", "9")  # other bytes than registered
    assert code == 1 and "again1" in out and "registry" in out and "Traceback" not in out, out
    assert "epoch 1/1" not in out, "refused before training"
    assert not (store.data_dir / "models" / "again1").exists()
