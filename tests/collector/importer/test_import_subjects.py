"""`collector import --subject-from`: who each face shows, read from real files laid out as a
public expression set is (the person in the file name, or a folder per person).

Before: the store had no such key, so a version of a posed set could only be split by image,
and the same people sat in train and test."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.cli import cli
from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.importer.subjects import SubjectRuleError
from facetrove.collector.store import DB_NAME, connect
from tests.collector.importer.conftest import write_people

JAFFE_LIKE = r"regex:^([a-z0-9]+)[.]"  # p3.happy.002.png -> p3


def _run(path: Path, data: Path, **options: object):  # type: ignore[no-untyped-def]
    db = connect(data / DB_NAME)
    return db, Importer(data, db, ImportOptions(**options)).run(path)  # type: ignore[arg-type]


def _subjects(db) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {r["source"].split("/", 1)[1]: r["subject"] for r in db.query("select * from samples")}


def test_subject_from_the_file_name(tmp_path: Path) -> None:
    people = write_people(tmp_path / "posed", layout="name")
    db, summary = _run(tmp_path / "posed", tmp_path / "data", subject_from=JAFFE_LIKE)
    assert summary.imported == sum(people.values()) and dict(summary.subjects) == people
    subjects = _subjects(db)
    assert all(s == Path(p).name.split(".")[0] for p, s in subjects.items()), subjects
    assert f"subjects: {len(people)} (p0 4, p1 4," in "\n".join(summary.lines())
    assert summary.to_json()["subjects"] == people


@pytest.mark.parametrize("split_folder", ["", "train/"])
def test_subject_from_the_parent_folder(tmp_path: Path, split_folder: str) -> None:
    root = tmp_path / "people"
    people = write_people(root / split_folder, layout="parent")
    db, summary = _run(root, tmp_path / "data", subject_from="parent")
    assert dict(summary.subjects) == people
    for path, subject in _subjects(db).items():
        assert path.removeprefix(split_folder).split("/")[0] == subject


def test_a_pattern_that_matches_nothing_refuses_the_import(tmp_path: Path) -> None:
    write_people(tmp_path / "posed", layout="name")
    with pytest.raises(SubjectRuleError, match=r"finds no subject in any of the 32 images"):
        _run(tmp_path / "posed", tmp_path / "data", subject_from=r"regex:^(S[0-9]+)_")
    db = connect(tmp_path / "data" / DB_NAME)
    assert db.execute("select count(*) from samples").fetchone()[0] == 0


def test_parent_rule_without_person_folders_refuses(tmp_path: Path) -> None:
    """Class folders straight under the root: there is no folder above them to name anyone."""
    write_people(tmp_path / "posed", layout="name")
    with pytest.raises(SubjectRuleError, match="folder above the class folder"):
        _run(tmp_path / "posed", tmp_path / "data", subject_from="parent")


def test_images_the_pattern_misses_are_skipped_with_the_reason(tmp_path: Path) -> None:
    root = tmp_path / "posed"
    people = write_people(root, layout="name")
    stray = next((root / "neutral").iterdir())
    stray.rename(stray.with_name("unnamed-face.png"))
    db, summary = _run(root, tmp_path / "data", subject_from=JAFFE_LIKE)
    assert summary.imported == sum(people.values()) - 1
    assert summary.reasons == {"no-subject": 1}
    assert "unnamed-face.png" in summary.examples["no-subject"][0]
    assert None not in _subjects(db).values()


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("regex:^[A-Z]+", "the pattern has no group"),
        ("regex:^([A-Z", "not a regular expression"),
        ("folder", "use 'parent'"),
    ],
)
def test_bad_rules_are_one_line_errors_before_anything_is_read(
    tmp_path: Path, rule: str, message: str
) -> None:
    write_people(tmp_path / "posed", per_face=1)
    args = ["collector", "import", str(tmp_path / "posed"), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(cli, [*args, "--subject-from", rule])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_importing_again_with_a_rule_fills_the_missing_subjects(tmp_path: Path) -> None:
    people = write_people(tmp_path / "posed", layout="name")
    _run(tmp_path / "posed", tmp_path / "data")
    db, again = _run(tmp_path / "posed", tmp_path / "data", subject_from=JAFFE_LIKE)
    assert again.imported == 0 and again.subjects_filled == sum(people.values())
    assert None not in _subjects(db).values()
    # a subject already recorded is kept
    _, third = _run(tmp_path / "posed", tmp_path / "data", subject_from=r"regex:^(p)")
    assert third.subjects_filled == 0 and set(_subjects(db).values()) == set(people)


def test_cli_prints_the_subjects(tmp_path: Path) -> None:
    write_people(tmp_path / "posed", layout="name")
    args = ["collector", "import", str(tmp_path / "posed"), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(cli, [*args, "--subject-from", JAFFE_LIKE, "--quiet"])
    assert result.exit_code == 0, result.output
    assert "subjects: 8 (p0 4, p1 4, p2 4, p3 4, p4 4, p5 4, p6 4, p7 4)" in result.output
