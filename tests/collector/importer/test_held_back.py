"""Faces whose crop bytes an earlier sample already has are stored as copies (``duplicate_of``),
never queued or counted: the import's summary says so instead of calling them imported."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
from click.testing import CliRunner

from facetrove.cli import cli
from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.store import DB_NAME, connect
from tests.collector.importer.conftest import face_boxes
from tests.support.data import pyfeat_data


def same_frame_twice(root: Path, names: tuple[str, ...], first_level: int = 1) -> None:
    """A TF CSV set: one real photo saved as PNG at different compression levels under
    ``names`` from ``first_level`` on (other file bytes, the same pixels), each with its Haar
    face box."""
    photo, label, (x0, y0, x1, y1) = face_boxes()[0]
    image = cv2.imread(str(pyfeat_data() / photo))
    h, w = image.shape[:2]
    root.mkdir(parents=True, exist_ok=True)
    rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
    for level, name in enumerate(names, start=first_level):
        assert cv2.imwrite(str(root / name), image, [cv2.IMWRITE_PNG_COMPRESSION, level])
        rows.append(f"{name},{w},{h},{label},{x0},{y0},{x1},{y1}")
    (root / "_annotations.csv").write_text("\n".join(rows) + "\n")
    assert len({(root / n).read_bytes() for n in names}) == len(names)


def test_a_face_whose_crop_an_earlier_sample_has_is_held_back_not_imported(
    tmp_path: Path,
) -> None:
    """Tried: one frame in two files whose bytes differ (the same pixels), each with the same
    box: the two cut crops are byte-identical. Before: "2 imported", though the second was
    stored as a copy, never queued. Kept: 1 imported, 1 held back with its reason and path."""
    same_frame_twice(tmp_path / "set", ("a.png", "b.png"))
    db = connect(tmp_path / "data" / DB_NAME)
    summary = Importer(tmp_path / "data", db, ImportOptions(state="pending")).run(tmp_path / "set")
    assert summary.imported == 1 and summary.outcomes["held-back"] == 1, summary.lines()
    assert summary.faces == {"annotated": 1} and sum(summary.labels.values()) == 1
    first, copy = db.execute(
        "SELECT id, duplicate_of FROM samples ORDER BY source"
    ).fetchall()  # a.png, b.png
    assert first[1] is None and copy[1] == first[0]
    held = summary.to_json()["held_back"]
    assert held["count"] == 1 and "byte-identical" in held["reason"]
    assert held["examples"] == [f"b.png (copy of {first[0]})"]
    assert any(line.startswith("held back 1") for line in summary.lines()), summary.lines()
    assert "1 held back" in summary.lines()[0]


def test_the_command_prints_them_as_held_back(tmp_path: Path) -> None:
    same_frame_twice(tmp_path / "one", ("a.png",))
    same_frame_twice(tmp_path / "two", ("b.png",), first_level=9)
    data = ["--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    assert runner.invoke(cli, ["collector", "import", str(tmp_path / "one"), *data]).exit_code == 0
    res = runner.invoke(cli, ["collector", "import", str(tmp_path / "two"), *data, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["outcomes"]["already-imported"] == 0, summary  # other bytes: a new file
    assert summary["outcomes"].get("imported", 0) == 0, summary
    assert summary["outcomes"]["held-back"] == 1 and summary["held_back"]["count"] == 1
