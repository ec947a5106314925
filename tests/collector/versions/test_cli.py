"""`facetrove collector version ...` and `export` through click's CliRunner on a real store."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pycocotools.coco import COCO

from facetrove.collector.cli import collector
from tests.collector.versions.factory import FactoryStore

RECIPE = (
    "classes: [angry, happy, neutral, sad, surprise]\naugmentations: {flip: {}}\nmultiplier: 2\n"
)


@pytest.fixture
def store(tmp_path: Path) -> FactoryStore:
    s = FactoryStore(tmp_path / "data")
    s.add(30, tracks=10)
    return s


def _run(store: FactoryStore, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(collector, [*args, "--data-dir", str(store.data_dir)])
    return result.exit_code, result.output


def test_create_list_show_export(store: FactoryStore, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    code, out = _run(store, "version", "create", "--recipe", str(recipe), "--name", "emo-1")
    assert code == 0, out
    assert "version emo-1: 30 samples" in out
    code, out = _run(store, "version", "list")
    assert code == 0 and "emo-1" in out and "ready" in out
    code, out = _run(store, "version", "show", "emo-1")
    assert code == 0 and "Leakage report" in out and "Pre-label accuracy" in out
    code, out = _run(store, "export", "emo-1", "--format", "coco", "--out", str(tmp_path / "c"))
    assert code == 0, out
    coco = COCO(str(tmp_path / "c" / "train" / "_annotations.coco.json"))
    assert len(coco.getImgIds()) > 0
    # versions are immutable: the same name again is refused and the first stays
    code, out = _run(store, "version", "create", "--recipe", str(recipe), "--name", "emo-1")
    assert code == 1 and "Error: version 'emo-1' already exists" in out
    assert "choose another name" in out and "Traceback" not in out
    code, out = _run(store, "export", "emo-1", "--format", "coco", "--out", str(tmp_path / "c"))
    assert code == 1 and "already exists" in out
    # delete frees the name; the samples stay
    code, out = _run(store, "version", "delete", "emo-1", "--yes")
    assert code == 0 and not (store.data_dir / "versions" / "emo-1").exists()
    assert store.db["version_samples"].count == 0 and store.db["samples"].count == 30
    code, out = _run(store, "version", "create", "--recipe", str(recipe), "--name", "emo-1")
    assert code == 0, out


def test_bad_recipe_is_refused_before_any_work(store: FactoryStore, tmp_path: Path) -> None:
    """Tried: unknown class, then bad ratios. Kept: no version row, no versions/ folder."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [joy]\n")
    code, out = _run(store, "version", "create", "--recipe", str(bad))
    assert code == 1 and "unknown class 'joy'" in out and "Traceback" not in out
    bad.write_text("split: {train: 0.9, valid: 0.2, test: 0.1}\naugmentations: {warp: {}}\n")
    code, out = _run(store, "version", "create", "--recipe", str(bad))
    assert code == 1 and "sum to 1" in out and "warp: unknown augmentation" in out
    assert store.db["versions"].count == 0
    assert not (store.data_dir / "versions").exists()


def test_unknown_version_and_format(store: FactoryStore) -> None:
    code, out = _run(store, "version", "show", "nope")
    assert code == 1 and "no version 'nope'" in out
    code, out = _run(store, "export", "nope", "--format", "pdf")
    assert code == 2 and "pdf" in out


@pytest.mark.parametrize(
    "args",
    [
        ["version"],
        ["version", "create"],
        ["version", "list"],
        ["version", "show"],
        ["version", "delete"],
        ["export"],
    ],
)
def test_every_command_has_help_with_an_example(args: list[str]) -> None:
    result = CliRunner().invoke(collector, [*args, "--help"])
    assert result.exit_code == 0
    assert len(result.output) > 200
    if args != ["version"]:
        assert "Example" in result.output


def test_a_name_that_is_a_path_is_refused(store: FactoryStore, tmp_path: Path) -> None:
    """Tried: --name '../outside' (and one with HTML). Kept: a clear error, no version row and
    no folder written anywhere, inside or outside the data folder."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    for bad in ("../outside", "<b>x</b>"):
        code, out = _run(store, "version", "create", "--recipe", str(recipe), "--name", bad)
        assert code == 1 and "is not allowed" in out, out
    assert not (store.data_dir / "outside").exists()
    assert not (store.data_dir / "outside.partial").exists()
    assert not (store.data_dir / "versions").exists() or not any(
        (store.data_dir / "versions").iterdir()
    )
    code, out = _run(store, "version", "list")
    assert code == 0 and "outside" not in out
