"""Versions that cannot give a model worth reporting: faces of one class only (the model would
answer that class for every face, with probability 1, and report 100 %), or no test faces (the
report, the point of the command, would be empty dashes). One-line errors before training,
through the real CLI on real faces; nothing written, nothing registered."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.collector.train.helpers import need_train_extra, store_with_version
from tests.collector.versions.factory import FactoryStore

need_train_extra()

from facetrove.collector.cli import collector  # noqa: E402
from facetrove.collector.store import models as registry  # noqa: E402
from facetrove.collector.versions.build import create_version  # noqa: E402

RECIPE = "classes: [{classes}]\ntask: classification\nseed: 1\nsplit: {{{split}}}\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FactoryStore:
    store = store_with_version(tmp_path_factory.mktemp("data"), n=30)
    for name, classes, split in [
        ("one", "happy", "train: 0.6, valid: 0.2, test: 0.2"),
        ("notest", "angry, happy, neutral, sad, surprise", "train: 0.8, valid: 0.2, test: 0"),
    ]:
        recipe = RECIPE.format(classes=classes, split=split)
        create_version(store.data_dir, store.db, recipe, name=name, progress=False)
    return store


def _cli(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        collector, ["train", *args, "--epochs", "1", "--data-dir", str(data_dir)],
        catch_exceptions=False,
    )  # fmt: skip
    return result.exit_code, result.output


def _left(store: FactoryStore) -> tuple[list[str], list[str]]:
    root = store.data_dir / "models"
    folders = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    return folders, sorted(m.id for m in registry.list_models(store.db))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["one", "--name", "m-one"], "faces of one class only (happy)"),
        (["notest", "--name", "m-notest"], "no test faces"),
    ],
    ids=["one-class", "no-test-split"],
)
def test_a_version_it_cannot_report_on_is_one_line_before_training(
    store: FactoryStore, args: list[str], message: str
) -> None:
    before = _left(store)
    code, out = _cli(store.data_dir, *args)
    assert code == 1, out
    assert message in out and "Traceback" not in out, out
    assert "epoch" not in out  # refused before the first epoch
    assert _left(store) == before


def test_no_test_faces_trains_when_a_benchmark_is_named(store: FactoryStore) -> None:
    code, out = _cli(store.data_dir, "notest", "--name", "m-bench", "--benchmark", "v1")
    assert code == 0, out
    assert "v1 benchmark" in out
