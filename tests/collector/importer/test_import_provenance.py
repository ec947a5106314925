"""The version card (and so the model card of a model trained on it) says where its faces came
from: imported faces are not 'captured by facetrove agents', and faces imported as confirmed
carry the data set's labels, not a reviewer's. Real face crops through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from facetrove.cli import cli
from tests.collector.importer.conftest import write_crops

RECIPE = "classes: [angry, disgust, happy, neutral, surprise]\ntask: classification\nseed: 1\n"


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["collector", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_imported_version_does_not_claim_agents_and_reviewers(tmp_path: Path) -> None:
    n = write_crops(tmp_path / "faces", per_face=2)
    data = str(tmp_path / "data")
    _run("import", str(tmp_path / "faces"), "--data-dir", data, "--tag", "test set, CC0",
         "--quiet")  # fmt: skip
    (tmp_path / "r.yaml").write_text(RECIPE)
    _run("version", "create", "--recipe", str(tmp_path / "r.yaml"), "--name", "imp",
         "--data-dir", data)  # fmt: skip
    card = json.loads((tmp_path / "data" / "versions" / "imp" / "card.json").read_text())
    text = card["provenance"]
    assert card["devices"] == {"import": n}
    assert "captured by facetrove agents" not in text, text
    assert f"{n} of the {n} samples were imported" in text, text
    assert "data set's labels" in text and "personal data" in text, text
    md = (tmp_path / "data" / "versions" / "imp" / "card.md").read_text()
    assert text in md
