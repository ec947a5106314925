"""Every export read back by an independent reader (supervision, pycocotools, csv, ElementTree,
json) and checked against the store: counts, classes and boxes."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import supervision as sv
from pycocotools.coco import COCO

from facetrove.collector.export.registry import EXPORTERS, export_version
from facetrove.collector.versions.build import BuiltVersion, create_version
from tests.collector.export.conftest import expected
from tests.collector.versions.factory import FactoryStore

SPLITS = ("train", "valid", "test")
Plain = tuple[FactoryStore, BuiltVersion]


def _expected(plain: Plain) -> dict[str, dict[str, Any]]:
    return expected(plain)


def test_only_confirmed_samples_are_in_the_version(plain: Plain) -> None:
    store, version = plain
    confirmed = {r["id"] for r in store.db.query("select id from samples where state='confirmed'")}
    assert set(_expected(plain)) == confirmed
    assert version.samples == 60


def _export(plain: Plain, fmt: str, tmp_path: Path) -> Path:
    return export_version(plain[1].path, fmt, tmp_path / fmt)


def _check_detections(
    plain: Plain, split: str, ds: sv.DetectionDataset, classes: list[str], tol: float
) -> None:
    truth = _expected(plain)
    want = {k: v for k, v in truth.items() if v["split"] == split}
    assert len(ds) == len(want)
    for path, _image, det in ds:
        sid = Path(path).stem
        assert len(det) == 1
        assert classes[int(det.class_id[0])] == want[sid]["label"]
        assert np.allclose(det.xyxy[0], want[sid]["box"], atol=tol), (det.xyxy[0], want[sid])


def test_yolo_reads_back_with_supervision(plain: Plain, tmp_path: Path) -> None:
    out = _export(plain, "yolo", tmp_path)
    for split in SPLITS:
        ds = sv.DetectionDataset.from_yolo(
            str(out / "images" / split), str(out / "labels" / split), str(out / "data.yaml")
        )
        assert ds.classes == list(plain[1].card["classes"])
        _check_detections(plain, split, ds, ds.classes, tol=1.0)


def test_coco_reads_back_with_pycocotools_and_supervision(plain: Plain, tmp_path: Path) -> None:
    out = _export(plain, "coco", tmp_path)
    truth = _expected(plain)
    for split in SPLITS:
        ann = out / split / "_annotations.coco.json"
        coco = COCO(str(ann))
        n = sum(1 for v in truth.values() if v["split"] == split)
        assert len(coco.getImgIds()) == n == len(coco.getAnnIds())
        names = [c["name"] for c in coco.loadCats(coco.getCatIds())]
        assert names == list(plain[1].card["classes"])
        ds = sv.DetectionDataset.from_coco(str(out / split), str(ann))
        _check_detections(plain, split, ds, ds.classes, tol=0.02)


def test_voc_reads_back_with_supervision(plain: Plain, tmp_path: Path) -> None:
    out = _export(plain, "voc", tmp_path)
    classes = list(plain[1].card["classes"])
    for split in SPLITS:
        ds = sv.DetectionDataset.from_pascal_voc(str(out / split), str(out / split), classes)
        _check_detections(plain, split, ds, ds.classes, tol=1.0)


def test_tf_csv_has_the_exact_header_and_the_store_boxes(plain: Plain, tmp_path: Path) -> None:
    out = _export(plain, "tf-csv", tmp_path)
    truth = _expected(plain)
    seen = 0
    for split in SPLITS:
        with open(out / split / "_annotations.csv", newline="") as fh:
            header = fh.readline().rstrip("\n")
            assert header == "filename,width,height,class,xmin,ymin,xmax,ymax"
            fh.seek(0)
            for row in csv.DictReader(fh):
                t = truth[Path(row["filename"]).stem]
                assert t["split"] == split and row["class"] == t["label"]
                got = [int(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
                assert np.allclose(got, t["box"], atol=1.0)
                assert (out / split / row["filename"]).is_file()
                seen += 1
    assert seen == len(truth)


def test_createml_reads_back_with_json(plain: Plain, tmp_path: Path) -> None:
    out = _export(plain, "createml", tmp_path)
    truth = _expected(plain)
    seen = 0
    for split in SPLITS:
        for entry in json.loads((out / split / "_annotations.createml.json").read_text()):
            t = truth[Path(entry["image"]).stem]
            (a,) = entry["annotations"]
            c = a["coordinates"]
            box = (c["x"] - c["width"] / 2, c["y"] - c["height"] / 2,
                   c["x"] + c["width"] / 2, c["y"] + c["height"] / 2)  # fmt: skip
            assert a["label"] == t["label"] and np.allclose(box, t["box"], atol=0.02)
            seen += 1
    assert seen == len(truth)


@pytest.mark.parametrize(
    ("fmt", "folders"), [("folder", SPLITS), ("yolo-cls", ("train", "val", "test"))]
)
def test_class_folders_read_back_with_supervision(
    plain: Plain, tmp_path: Path, fmt: str, folders: tuple[str, ...]
) -> None:
    out = _export(plain, fmt, tmp_path)
    truth = _expected(plain)
    classes = list(plain[1].card["classes"])
    for split, folder in zip(SPLITS, folders, strict=True):
        assert sorted(p.name for p in (out / folder).iterdir()) == sorted(classes)
        ds = sv.ClassificationDataset.from_folder_structure(str(out / folder))
        want = {k: v["label"] for k, v in truth.items() if v["split"] == split}
        assert len(ds) == len(want)
        for path, _image, cls in ds:
            assert ds.classes[int(cls.class_id[0])] == want[Path(path).stem]


def test_onehot_csv_rows_match_the_store(plain: Plain, tmp_path: Path) -> None:
    out = _export(plain, "csv", tmp_path)
    truth = _expected(plain)
    classes = list(plain[1].card["classes"])
    counts: Counter[str] = Counter()
    for split in SPLITS:
        with open(out / split / "_classes.csv", newline="") as fh:
            reader = csv.reader(fh)
            assert next(reader) == ["filename", *classes]
            for row in reader:
                onehot = [int(v) for v in row[1:]]
                assert sum(onehot) == 1
                assert classes[onehot.index(1)] == truth[Path(row[0]).stem]["label"]
                assert (out / split / row[0]).is_file()
                counts[split] += 1
    assert sum(counts.values()) == len(truth)


def test_every_format_is_registered_and_zips(plain: Plain, tmp_path: Path) -> None:
    assert set(EXPORTERS) == {
        "coco",
        "yolo",
        "voc",
        "createml",
        "tf-csv",
        "csv",
        "folder",
        "yolo-cls",
    }
    import zipfile

    a = export_version(plain[1].path, "coco", tmp_path / "a.zip", as_zip=True)
    b = export_version(plain[1].path, "coco", tmp_path / "b.zip", as_zip=True)
    assert a.read_bytes() == b.read_bytes()
    names = zipfile.ZipFile(a).namelist()
    assert "train/_annotations.coco.json" in names


def test_augmented_version_reads_back(plain: Plain, tmp_path: Path) -> None:
    """A resized, augmented version: every reader sees every image, boxes inside 160x160."""
    from facetrove.collector.versions.build import create_version

    store = plain[0]
    recipe = (
        "seed: 3\npreprocess: {resize: {width: 160, height: 160, mode: fill}}\n"
        "augmentations: {flip: {}, rotation: {degrees: 15}, crop: {max_percent: 0.1}}\n"
        "multiplier: 2\n"
    )
    version = create_version(store.data_dir, store.db, recipe, name="aug", progress=False)
    frames = version.card["images"]["frame"]
    yolo = export_version(version.path, "yolo", tmp_path / "yolo")
    coco = export_version(version.path, "coco", tmp_path / "coco")
    for split in SPLITS:
        ds = sv.DetectionDataset.from_yolo(
            str(yolo / "images" / split), str(yolo / "labels" / split), str(yolo / "data.yaml")
        )
        assert len(ds) == frames[split]
        c = COCO(str(coco / split / "_annotations.coco.json"))
        assert len(c.getImgIds()) == frames[split]
        for _path, image, det in ds:
            assert image.shape[:2] == (160, 160)
            # 6-decimal normalised YOLO numbers read back within 0.001 px of the edge
            assert (det.xyxy >= -1e-3).all() and (det.xyxy <= 160 + 1e-3).all()
    n_train = sum(version.card["counts"]["train"].values())
    assert frames["train"] == n_train * 3  # original + 2 copies, every train frame


def test_detection_export_of_a_crops_only_version_is_refused(plain: Plain, tmp_path: Path) -> None:
    """Tried: yolo from a classification-only version. Kept: no output folder at all."""
    from facetrove.collector.export.base import ExportError
    from facetrove.collector.versions.build import create_version

    store = plain[0]
    version = create_version(
        store.data_dir, store.db, "task: classification\n", name="cls-only", progress=False
    )
    with pytest.raises(ExportError, match="has no frames with boxes: it was built with task: cl"):
        export_version(version.path, "yolo", tmp_path / "y")
    assert not (tmp_path / "y").exists() and not (tmp_path / "y.partial").exists()
    with pytest.raises(ExportError, match="unknown export format 'pdf'"):
        export_version(version.path, "pdf", tmp_path / "p")


def test_detection_export_of_samples_without_frames_says_why(tmp_path: Path) -> None:
    """Tried: coco from a task: both version whose samples came without a full frame (agents
    send one only with crop.send_frame). Kept: no output; the error names the real cause
    instead of asking for task: both, which the version already has."""
    from facetrove.collector.export.base import ExportError
    from facetrove.collector.versions.build import create_version
    from tests.collector.versions.factory import FactoryStore

    store = FactoryStore(tmp_path / "store")
    store.add(12, tracks=4, with_frames=False)
    version = create_version(store.data_dir, store.db, "task: both\n", progress=False)
    with pytest.raises(ExportError, match="none of its samples came with a full frame") as err:
        export_version(version.path, "coco", tmp_path / "c")
    assert "send_frame" in str(err.value) and "task: both" not in str(err.value)
    assert not (tmp_path / "c").exists()
    export_version(version.path, "folder", tmp_path / "f")  # crops still export
    assert (tmp_path / "f" / "train").is_dir()


@pytest.mark.parametrize(
    ("fmt", "folders"), [("folder", SPLITS), ("yolo-cls", ("train", "val", "test"))]
)
def test_zipped_class_folders_keep_empty_classes(
    plain: Plain, tmp_path: Path, fmt: str, folders: tuple[str, ...]
) -> None:
    """Tried: a zip of a version where some classes have no image in a split. Kept: every
    class's folder in every split after unzipping, so ImageFolder-style readers number the
    classes the same way in train, valid and test."""
    import zipfile

    target = export_version(plain[1].path, fmt, tmp_path / f"{fmt}.zip", as_zip=True)
    zipfile.ZipFile(target).extractall(tmp_path / "x")
    classes = sorted(plain[1].card["classes"])
    counts = plain[1].card["counts"]
    assert any(counts[s][c] == 0 for s in SPLITS for c in classes)  # the case under test
    for folder in folders:
        assert sorted(p.name for p in (tmp_path / "x" / folder).iterdir()) == classes


@pytest.fixture(scope="module")
def reordered(plain: Plain) -> Plain:
    """A second version of the same store whose recipe lists the classes in reverse order."""
    store = plain[0]
    order = list(reversed(plain[1].card["classes"]))
    recipe = f"seed: 1\nname: reordered\nclasses: [{', '.join(order)}]\n"
    return store, create_version(store.data_dir, store.db, recipe, progress=False)


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_one_class_order_in_every_format_and_split(
    reordered: Plain, tmp_path: Path, fmt: str
) -> None:
    """Tried: a recipe whose class order is not alphabetical, in every format. Every export
    carries classes.txt in the recipe's order, and every class list a format writes follows
    it, in every split."""
    out = _export(reordered, fmt, tmp_path)
    classes = list(reordered[1].card["classes"])
    assert classes != sorted(classes), "the test needs a recipe order that is not alphabetical"
    assert (out / "classes.txt").read_text().splitlines() == classes
    if fmt == "yolo":
        import yaml

        names = yaml.safe_load((out / "data.yaml").read_text())["names"]
        listed = [names[i] for i in sorted(names)] if isinstance(names, dict) else names
        assert listed == classes
    if fmt == "coco":
        for split in SPLITS:
            coco = json.loads((out / split / "_annotations.coco.json").read_text())
            cats = sorted(coco["categories"], key=lambda c: c["id"])
            assert [c["name"] for c in cats if c["name"] in classes] == classes
    if fmt == "csv":
        for split in SPLITS:
            header = (out / split / "_classes.csv").read_text().splitlines()[0].split(",")
            assert header[1:] == classes
