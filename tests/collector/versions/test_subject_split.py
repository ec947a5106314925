"""`split.group_by: subject`: real faces imported as several people, a real version build, and
no person in two splits; the card names who is in which split.

Before: a version could be grouped by track, device or nothing, so the posed photos of one person
(imported, one track per file) were spread over train, valid and test."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.cli import cli
from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store.db import Database
from facetrove.collector.versions.build import VersionError, create_version
from facetrove.collector.versions.card import card_markdown
from tests.collector.importer.conftest import write_crops, write_people

SUBJECT_RECIPE = """
task: classification
seed: {seed}
split: {{train: 0.6, valid: 0.2, test: 0.2, group_by: {group_by}}}
"""


def _store(tmp_path: Path, subject_from: str | None = r"regex:^(p[0-9]+)[.]") -> Database:
    write_people(tmp_path / "posed", per_face=6, layout="name")
    db = connect(tmp_path / "data" / DB_NAME)
    Importer(tmp_path / "data", db, ImportOptions(subject_from=subject_from)).run(
        tmp_path / "posed"
    )
    return db


def _splits_of_subjects(db: Database, version: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for subject, split in db.execute(
        "select s.subject, v.split from version_samples v join samples s on s.id = v.sample_id"
        " where v.version_id = ?",
        [version],
    ).fetchall():
        out[subject].add(split)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_subject_straddles_splits(tmp_path: Path, seed: int) -> None:
    db = _store(tmp_path)
    recipe = SUBJECT_RECIPE.format(seed=seed, group_by="subject")
    built = create_version(tmp_path / "data", db, recipe, name="people", progress=False)
    splits = _splits_of_subjects(db, "people")
    assert len(splits) == 8 and all(len(v) == 1 for v in splits.values()), splits
    assert {next(iter(v)) for v in splits.values()} == {"train", "valid", "test"}
    leak = built.card["leakage"]
    assert leak["subjects"] == 8 and leak["subjects_straddling_splits"] == 0
    for split in ("train", "valid", "test"):
        names = sorted(p for p, v in splits.items() if split in v)
        assert leak["subjects_per_split"][split] == {"count": len(names), "names": names}
    text = card_markdown(built.card)
    assert "- subjects (people): 8; in several splits: 0" in text
    test_names = ", ".join(leak["subjects_per_split"]["test"]["names"])
    assert f"  - test ({leak['subjects_per_split']['test']['count']}): {test_names}" in text
    assert (built.path / "card.md").read_text() == text


def test_grouped_by_track_the_same_people_straddle_and_the_card_says_so(tmp_path: Path) -> None:
    """The default grouping on the same samples: one track per imported file, so each person's
    photos are spread over the splits, and the leakage report counts them."""
    db = _store(tmp_path)
    built = create_version(
        tmp_path / "data", db, SUBJECT_RECIPE.format(seed=0, group_by="track"), progress=False
    )
    leak = built.card["leakage"]
    assert leak["subjects_straddling_splits"] > 0
    assert leak["subjects_straddling_examples"]
    assert f"in several splits: {leak['subjects_straddling_splits']} (" in card_markdown(built.card)


def test_samples_without_a_subject_cannot_be_split_by_subject(tmp_path: Path) -> None:
    db = _store(tmp_path, subject_from=None)
    recipe = SUBJECT_RECIPE.format(seed=0, group_by="subject")
    with pytest.raises(VersionError, match="none of the 48 samples has a subject"):
        create_version(tmp_path / "data", db, recipe, progress=False)
    assert db.execute("select count(*) from versions").fetchone()[0] == 0


def test_one_subject_is_not_a_silent_one_group_split(tmp_path: Path) -> None:
    """A pattern that gives everyone the same name: refused at build time, naming it."""
    db = _store(tmp_path, subject_from=r"regex:^(p)")
    recipe = SUBJECT_RECIPE.format(seed=0, group_by="subject")
    with pytest.raises(VersionError, match=r"the samples have 1 \(p\)"):
        create_version(tmp_path / "data", db, recipe, progress=False)
    ok = "task: classification\nsplit: {train: 1, valid: 0, test: 0, group_by: subject}\n"
    assert create_version(tmp_path / "data", db, ok, progress=False).samples == 48


def test_mixed_store_agent_like_samples_keep_their_tracks(tmp_path: Path) -> None:
    """Samples without a subject (here: an import without a rule) are grouped by their track
    and counted on the card."""
    db = _store(tmp_path)
    write_crops(tmp_path / "plain", per_face=2, size=64)
    Importer(tmp_path / "data", db, ImportOptions()).run(tmp_path / "plain")
    recipe = SUBJECT_RECIPE.format(seed=0, group_by="subject")
    built = create_version(tmp_path / "data", db, recipe, progress=False)
    leak = built.card["leakage"]
    assert leak["samples_without_subject"] == 16 and leak["subjects_straddling_splits"] == 0
    assert leak["tracks_straddling_splits"] == 0


def test_cli_version_show_names_the_subjects(tmp_path: Path) -> None:
    db = _store(tmp_path)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(SUBJECT_RECIPE.format(seed=0, group_by="subject"))
    data = ["--data-dir", str(tmp_path / "data")]
    run = CliRunner().invoke(
        cli, ["collector", "version", "create", "--recipe", str(recipe), "--name", "v", *data]
    )
    assert run.exit_code == 0, run.output
    shown = CliRunner().invoke(cli, ["collector", "version", "show", "v", *data])
    assert "subjects (people): 8; in several splits: 0" in shown.output, shown.output
    db.close()


def test_the_docs_recipe_builds_on_a_tagged_import(tmp_path: Path) -> None:
    """docs/versions.md's split-by-subject recipe, as written, on real faces imported with its
    tag and the docs/import.md rule."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "versions.md").read_text()
    section = doc.split("people it never saw", 1)[1]
    recipe = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    write_people(tmp_path / "jaffe", per_face=6, layout="name")
    db = connect(tmp_path / "data" / DB_NAME)
    options = ImportOptions(tag="JAFFE, research only", subject_from=r"regex:^([a-z0-9]+)[.]")
    Importer(tmp_path / "data", db, options).run(tmp_path / "jaffe")
    built = create_version(tmp_path / "data", db, recipe, progress=False)
    assert built.samples == 48 and built.card["leakage"]["subjects_straddling_splits"] == 0
