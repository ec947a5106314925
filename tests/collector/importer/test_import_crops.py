"""A newcomer's import: class folders of 48 px grayscale face crops (the layout of public
expression sets) and of photos. Before: 0 of 613 such crops kept, all dropped as `small`."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.cli import cli
from facetrove.collector.importer.base import ImportRefused
from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.store import DB_NAME, connect
from tests.collector.importer.conftest import PHOTOS
from tests.support.data import pyfeat_data, require


def _need_agent() -> None:
    if importlib.util.find_spec("mediapipe") is None:
        require("facetrove[agent]", "photos are detected by the agent's pipeline")


def _run(path: Path, data: Path, **options: object):  # type: ignore[no-untyped-def]
    db = connect(data / DB_NAME)
    return db, Importer(data, db, ImportOptions(**options)).run(path)  # type: ignore[arg-type]


def test_every_48px_grayscale_crop_is_kept_with_its_label(
    crops48: tuple[Path, int], tmp_path: Path
) -> None:
    root, n = crops48
    db, summary = _run(root, tmp_path / "data", tag="test set, CC0")
    assert n >= 20 and summary.imported == n and summary.faces == {"cropped": n}
    rows = list(db.query("select * from samples"))
    assert len(rows) == n
    for row in rows:
        folder = Path(row["source"]).parent.name
        assert row["state"] == "confirmed" and row["label"] == row["provided_label"] == folder
        assert row["crop_width"] == row["crop_height"] == 48 and row["tag"] == "test set, CC0"
    history = list(db.query("select action, user_id, label from decisions"))
    assert {h["action"] for h in history} == {"import"} and len(history) == n
    # the same folder again adds nothing
    db, again = _run(root, tmp_path / "data", tag="test set, CC0")
    assert again.imported == 0 and again.outcomes["already-imported"] == n
    assert db.execute("select count(*) from samples").fetchone()[0] == n


def test_exact_copies_are_counted_and_near_duplicates_kept(
    crops48: tuple[Path, int], tmp_path: Path
) -> None:
    """Tried: the same crop twice (once in another class) and shifted-by-a-pixel crops of one
    face (near-duplicates a dHash would merge). Kept: every distinct file, copies counted."""
    root, n = crops48
    first = sorted((root / "happy").iterdir())[0]
    shutil.copy(first, root / "happy" / "copy.png")
    shutil.copy(first, root / "surprise" / "copy-elsewhere.png")
    _, summary = _run(root, tmp_path / "data")
    assert summary.imported == n and summary.outcomes["duplicate"] == 2


def test_pending_import_keeps_the_label_as_provided_and_decides_nothing(
    crops48: tuple[Path, int], tmp_path: Path
) -> None:
    root, n = crops48
    db, summary = _run(root, tmp_path / "data", state="pending")
    assert summary.imported == n
    states = db.execute("select state, count(*), count(provided_label) from samples group by 1")
    assert states.fetchall() == [("pending", n, n)]
    assert db.execute("select count(*) from decisions").fetchone()[0] == 0


def test_unknown_classes_refuse_the_import_before_anything_is_written(tmp_path: Path) -> None:
    from tests.collector.importer.conftest import write_crops

    root = tmp_path / "set"
    write_crops(root, per_face=1)
    (root / "happy").rename(root / "Contempt")
    with pytest.raises(ImportRefused, match=r"unknown classes 'Contempt'.*--add-classes"):
        _run(root, tmp_path / "data")
    db = connect(tmp_path / "data" / DB_NAME)
    assert db.execute("select count(*) from samples").fetchone()[0] == 0
    assert not (tmp_path / "data" / "blobs").exists() or not any(
        (tmp_path / "data" / "blobs").rglob("*.jpg")
    )
    db, summary = _run(root, tmp_path / "data", add_classes=True)
    assert summary.new_classes == ["Contempt"] and summary.labels["Contempt"] >= 1


def test_cli_prints_a_summary_and_one_line_errors(
    crops48: tuple[Path, int], tmp_path: Path
) -> None:
    root, n = crops48
    runner = CliRunner()
    data = str(tmp_path / "data")
    res = runner.invoke(
        cli, ["collector", "import", str(root), "--data-dir", data, "--json", "--tag", "x"]
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.strip().splitlines()]
    assert [e["event"] for e in lines] == ["progress", "summary"]
    assert lines[0]["done"] == lines[0]["total"] == n
    summary = lines[-1]
    assert summary["outcomes"]["imported"] == n and summary["format"] == "folder"
    res = runner.invoke(cli, ["collector", "import", str(tmp_path / "nope"), "--data-dir", data])
    assert res.exit_code == 1 and "does not exist" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["collector", "import", str(root), "--format", "pdf"])
    assert res.exit_code == 2 and "one of: auto" in res.output


def test_photos_in_class_folders_go_through_the_agent(tmp_path: Path) -> None:
    """Photos (not crops) in class folders: the agent's detector finds every face, with the
    sampling limits lifted (multi_face.jpg gives a sample per face, none dropped)."""
    _need_agent()
    root = tmp_path / "photos"
    for photo, label in PHOTOS.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(pyfeat_data() / photo, root / label / photo)
    db, summary = _run(root, tmp_path / "data", faces="detect")
    assert summary.reasons == {}, summary.lines()
    assert summary.faces["detected"] == summary.imported >= len(PHOTOS) + 2
    multi = list(db.query("select * from samples where source like '%multi_face.jpg'"))
    assert len(multi) >= 3 and {r["label"] for r in multi} == {"neutral"}
    assert all(r["prelabel_label"] and r["frame_sha256"] for r in multi)
    assert not (tmp_path / "data" / "imports").exists()  # staging removed
    _, again = _run(root, tmp_path / "data", faces="detect")
    assert again.imported == 0 and again.outcomes["already-imported"] == summary.imported


def test_a_photo_and_its_reencoded_copy_are_both_kept(tmp_path: Path) -> None:
    """Tried: one photo, the same photo re-encoded at JPEG quality 80 (other bytes, the same
    dHash) and a slightly brighter copy, in two classes. Before: the agent's sampler dropped the
    copy as a duplicate and the import called it `no-face`. Kept: all three."""
    _need_agent()
    import cv2

    image = cv2.imread(str(pyfeat_data() / "single_face.jpg"))
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    (root / "surprise").mkdir()
    shutil.copy(pyfeat_data() / "single_face.jpg", root / "happy" / "a.jpg")
    cv2.imwrite(str(root / "surprise" / "b.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    cv2.imwrite(str(root / "happy" / "c.jpg"), cv2.convertScaleAbs(image, alpha=1.0, beta=6))
    db, summary = _run(root, tmp_path / "data", faces="detect")
    assert summary.imported == 3 and summary.reasons == {}, summary.lines()
    labels = sorted(r[0] for r in db.execute("select label from samples"))
    assert labels == ["happy", "happy", "surprise"]


def test_an_import_killed_half_way_resumes_without_doubles(tmp_path: Path) -> None:
    """Tried: kill -9 of `collector import` after its first committed batch, then the same
    command again. Kept: every crop exactly once, each row's image in the blob store."""
    import signal
    import subprocess
    import sys

    from tests.collector.importer.conftest import write_crops

    root = tmp_path / "set"
    n = write_crops(root, per_face=120)
    assert n > 600  # several batches of 256
    data = tmp_path / "data"
    exe = Path(sys.executable).with_name("facetrove")
    argv = [str(exe), "collector", "import", str(root), "--data-dir", str(data), "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["event"] == "progress" and first["outcomes"]["imported"] > 0
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["outcomes"]["imported"] + summary["outcomes"]["already-imported"] == n
    assert summary["outcomes"]["already-imported"] >= first["outcomes"]["imported"]
    db = connect(data / DB_NAME)
    assert db.execute("select count(*), count(distinct import_key) from samples").fetchone() == (
        n,
        n,
    )
    assert db.execute("select count(*) from decisions").fetchone()[0] == n
    for (sha,) in db.execute("select crop_sha256 from samples"):
        assert (data / "blobs" / sha[:2] / f"{sha}.jpg").is_file()
