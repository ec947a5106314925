"""Hostile class names are refused at every entry (web API, CLI, import) and CSV cells that a
spreadsheet would run as formulas are neutralised in every CSV export."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.collector.cli import collector
from facetrove.collector.export.cells import csv_writer, safe_cell
from facetrove.collector.store.classes import class_name_problem
from facetrove.collector.store.db import DB_NAME, connect

HOSTILE = [
    "..", ".", "\\..\\..\\evil", "../x", "a/b", "CON", "nul", "com1.txt", "Lpt9",
    "=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", " lead", "trail.", "",
    "x" * 65, "tab\there", "_hidden",
]  # fmt: skip
FINE = ["angry", "Überrascht", "contempt 2", "very-happy", "v1.0", "惊讶"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_class_names_have_a_problem(name: str) -> None:
    assert class_name_problem(name)


@pytest.mark.parametrize("name", FINE)
def test_ordinary_class_names_pass(name: str) -> None:
    assert class_name_problem(name) is None


def _classes(data: Path) -> list[str]:
    db = connect(data / DB_NAME)
    try:
        return [r[0] for r in db.execute("SELECT name FROM classes ORDER BY position")]
    finally:
        db.conn.close()


def test_cli_refuses_hostile_class_names(tmp_path: Path) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path / "d")]
    assert runner.invoke(collector, ["classes", "list", *d]).exit_code == 0
    before = _classes(tmp_path / "d")
    for name in ["..", "\\..\\..\\evil", "CON", "=HYPERLINK(1)"]:
        out = runner.invoke(collector, ["classes", "add", name, *d])
        assert (out.exit_code == 1 and "not allowed" in out.output) or "reserved" in out.output
        assert "Traceback" not in out.output
    out = runner.invoke(collector, ["classes", "rename", "angry", "..", *d])
    assert out.exit_code == 1
    assert _classes(tmp_path / "d") == before


def test_import_with_a_hostile_folder_name_adds_no_class(tmp_path: Path, faces_dir: Path) -> None:
    face = next(p for p in sorted(faces_dir.rglob("*.jpg")))
    src = tmp_path / "src"
    for folder in ("contempt", "=cmd|calc"):
        (src / folder).mkdir(parents=True)
        shutil.copy(face, src / folder / "a.jpg")
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path / "d")]
    runner.invoke(collector, ["classes", "list", *d])
    before = _classes(tmp_path / "d")
    out = runner.invoke(collector, ["import", str(src), "--add-classes", *d])
    assert out.exit_code != 0, out.output
    assert "not allowed" in out.output and "Traceback" not in out.output
    assert _classes(tmp_path / "d") == before  # not even the good one: nothing half done


def test_csv_cells_that_would_run_as_formulas_are_quoted() -> None:
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("@x") == "'@x" and safe_cell("-1+1") == "'-1+1"
    assert safe_cell("happy") == "happy" and safe_cell(-3) == -3
    buf = io.StringIO()
    csv_writer(buf).writerow(["a.jpg", 10, "+cmd", -5])
    assert buf.getvalue() == "a.jpg,10,'+cmd,-5\n"
