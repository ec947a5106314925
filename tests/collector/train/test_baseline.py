"""Which model a training's report is set against: the model deployed to every device (the
registry's), else the bundled one; ``--compare`` overrides. The report, the card and the
command's output name it and say why. Real store, real registry, real training (1 epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.collector.model_helpers import model_folder
from tests.collector.train.helpers import need_train_extra, store_with_version
from tests.collector.versions.factory import FactoryStore

need_train_extra()

from facetrove.collector.cli import collector  # noqa: E402
from facetrove.collector.rollout import register_folder  # noqa: E402
from facetrove.collector.store import models as registry  # noqa: E402
from facetrove.collector.train.run import TrainSettings, train  # noqa: E402

ONE = TrainSettings(epochs=1, batch_size=16, seed=2)


@pytest.fixture
def store(tmp_path: Path) -> FactoryStore:
    return store_with_version(tmp_path / "data")


def _deploy(store: FactoryStore, model_id: str, devices: list[str] | None = None) -> None:
    model_folder(store.data_dir, model_id)
    register_folder(store.db, store.data_dir, model_id)
    registry.assign(store.db, model_id, devices, "rollout")


def test_nothing_deployed_yet_the_report_is_against_the_bundled_model(store: FactoryStore) -> None:
    _deploy(store, "emo-canary", ["cam-0"])  # a canary is not what every device runs
    m = train(store.data_dir, "v1", "m1", ONE)
    assert m.report["baseline"] == "bundled"
    assert "no model is deployed to every device" in m.report["baseline_reason"]
    assert m.card["compared_with"]["id"] == "bundled"
    assert m.card["compared_with"]["reason"] == m.report["baseline_reason"]


def test_the_report_is_against_the_deployed_model_not_the_parent(store: FactoryStore) -> None:
    _deploy(store, "emo-live")
    m = train(store.data_dir, "v1", "m1", ONE)  # starts from bundled, its parent
    assert m.card["parent"]["id"] == "bundled"
    assert m.report["baseline"] == "emo-live"
    assert "deployed to every device" in m.report["baseline_reason"]
    (e,) = m.report["evaluations"]
    assert e["models"]["baseline"]["model"] == "emo-live" and e["models"]["new"]["n"] > 0
    card = json.loads((m.path / "card.json").read_text())
    assert card["compared_with"]["id"] == "emo-live"
    assert len(card["compared_with"]["sha256"]) == 64
    md = (m.path / "card.md").read_text()
    assert "against emo-live" in md and "deployed to every device" in md

    # --compare still wins, and says so
    c = train(store.data_dir, "v1", "m2", TrainSettings(epochs=1, batch_size=16, compare="m1"))
    assert c.report["baseline"] == "m1" and "--compare" in c.report["baseline_reason"]


def test_a_deployed_model_whose_file_is_gone_is_a_one_line_error(store: FactoryStore) -> None:
    _deploy(store, "emo-gone")
    for p in (store.data_dir / "models" / "emo-gone").iterdir():
        p.unlink()
    (store.data_dir / "models" / "emo-gone").rmdir()
    result = CliRunner().invoke(
        collector, ["train", "v1", "--name", "m1", "--epochs", "1",
                    "--data-dir", str(store.data_dir)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "the deployed model emo-gone" in result.output and "--compare" in result.output
    assert "Traceback" not in result.output
    assert not (store.data_dir / "models" / "m1").exists()


def test_the_command_names_the_baseline_and_why(store: FactoryStore) -> None:
    _deploy(store, "emo-live")
    result = CliRunner().invoke(
        collector, ["train", "v1", "--name", "m1", "--epochs", "1", "--batch-size", "16",
                    "--data-dir", str(store.data_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "m1 against emo-live" in flat and "deployed to every device" in flat
