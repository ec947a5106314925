"""Building versions from real faces: reproducible bytes, train-only augmentation, boxes that
follow the pixels through preprocessing and augmentation."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrove.collector.versions.augment import Augmenter
from facetrove.collector.versions.build import VersionError, create_version, prepare_version
from facetrove.collector.versions.preprocess import Preprocessor
from facetrove.collector.versions.recipe import RecipeError, parse_recipe
from tests.collector.versions.factory import FactoryStore, faces

AUGMENTED = """
classes: [angry, happy, neutral, sad, surprise]
seed: 5
preprocess: {resize: {width: 160, height: 160, mode: fit}, equalize: clahe}
augmentations:
  flip:
  rotation: {degrees: 20}
  shear: {degrees: 8}
  crop: {max_percent: 0.15}
  hue: {}
  saturation: {}
  brightness: {}
  exposure: {}
  blur: {max_kernel: 5}
  motion_blur: {}
  noise: {percent: 4}
  cutout: {holes: 2, size: 0.1}
  grayscale: {}
multiplier: 3
"""


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in ("card.json", "card.md"):
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FactoryStore:
    s = FactoryStore(tmp_path_factory.mktemp("data"))
    s.add(40, tracks=14, devices=2)
    return s


def test_same_recipe_twice_gives_byte_identical_output(store: FactoryStore) -> None:
    """Once on a pool of 2 processes, once in one process: the same bytes, file for file."""
    a = create_version(store.data_dir, store.db, AUGMENTED, name="a", workers=2, progress=False)
    b = create_version(store.data_dir, store.db, AUGMENTED, name="b", workers=1, progress=False)
    ta, tb = _tree(a.path), _tree(b.path)
    assert len(ta) > 200  # several chunks: the pool really ran
    assert ta == tb
    ca = json.loads((a.path / "card.json").read_text())
    cb = json.loads((b.path / "card.json").read_text())
    assert {**ca, "version": ""} == {**cb, "version": ""}
    # a different seed changes the augmented images but not the originals' count
    c = create_version(
        store.data_dir, store.db, AUGMENTED.replace("seed: 5", "seed: 6"), name="c", progress=False
    )
    assert _tree(c.path) != ta


def test_augmentation_touches_the_train_split_only(store: FactoryStore) -> None:
    version = create_version(store.data_dir, store.db, AUGMENTED, name="d", progress=False)
    rows = [json.loads(line) for line in (version.path / "manifest.jsonl").read_text().splitlines()]
    splits = {r["sample_id"]: r["split"] for r in rows if r["copy"] == 0}
    per = Counter((r["kind"], r["split"]) for r in rows)
    n_train = sum(1 for s in splits.values() if s == "train")
    assert per[("crop", "train")] == n_train * 4  # original + 3 copies
    assert all(r["copy"] == 0 for r in rows if r["split"] != "train")
    assert all(r["width"] == 160 and r["height"] == 160 for r in rows)
    for r in rows:
        for x0, y0, x1, y1 in r["boxes"]:
            assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 160
    card = version.card
    assert card["leakage"]["tracks_straddling_splits"] == 0
    assert sum(sum(c.values()) for c in card["counts"].values()) == 40


def _frame_and_box() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    face = faces()[0]
    img = cv2.cvtColor(cv2.imdecode(np.frombuffer(face.frame_jpeg, np.uint8), 1), cv2.COLOR_BGR2RGB)
    s = face.image_width / face.frame_width
    return img, tuple(v * s for v in face.box)  # type: ignore[return-value]


def test_flip_moves_the_box_exactly() -> None:
    image, box = _frame_and_box()
    w = image.shape[1]
    aug = Augmenter(parse_recipe("augmentations: {flip: {p: 1.0}}").augmentations, seed=0)
    out, boxes, labels, _ = aug(image, [box], ["happy"], "s1", 1)
    assert np.array_equal(out, image[:, ::-1])
    assert labels == ["happy"]
    assert np.allclose(boxes[0], (w - box[2], box[1], w - box[0], box[3]), atol=1e-6)


@pytest.mark.parametrize(
    "aug",
    [
        "rotation: {degrees: 30, p: 1}",
        "shear: {degrees: 15, p: 1}",
        "crop: {max_percent: 0.1, p: 1}",
        "rotate90: {p: 1}",
        "flip: {vertical: true, p: 1}",
    ],
)
def test_augmented_boxes_stay_inside_and_cover_the_face(aug: str) -> None:
    """The face region is painted into a mask that moves with the image; the transformed box
    must match the mask's extent."""
    image, box = _frame_and_box()
    h, w = image.shape[:2]
    augmenter = Augmenter(parse_recipe(f"augmentations: {{{aug}}}").augmentations, seed=1)
    for copy in range(1, 6):
        mask = np.zeros((h, w), np.uint8)
        x0, y0, x1, y1 = (round(v) for v in box)
        mask[y0:y1, x0:x1] = 1
        out, boxes, _, moved = augmenter(image, [box], ["sad"], f"s{copy}", copy, mask=mask)
        assert moved is not None and len(boxes) == 1
        oh, ow = out.shape[:2]
        bx0, by0, bx1, by1 = boxes[0]
        assert 0 <= bx0 < bx1 <= ow and 0 <= by0 < by1 <= oh
        ys, xs = np.nonzero(moved)
        truth = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert _iou(boxes[0], truth) > 0.85, (aug, boxes[0], truth)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


@pytest.mark.parametrize("mode", ["stretch", "fit", "fill"])
def test_resize_modes_move_the_box_with_the_pixels(mode: str) -> None:
    image, box = _frame_and_box()
    h, w = image.shape[:2]
    spec = parse_recipe(f"preprocess: {{resize: {{width: 200, height: 120, mode: {mode}}}}}")
    out, boxes, _ = Preprocessor(spec.preprocess, is_frame=True)(image, [box], ["x"])
    assert out.shape[:2] == (120, 200)
    if mode == "stretch":
        sx, sy, dx, dy = 200 / w, 120 / h, 0.0, 0.0
    else:
        s = min(200 / w, 120 / h) if mode == "fit" else max(200 / w, 120 / h)
        sx = sy = s
        dx, dy = (200 - w * s) / 2, (120 - h * s) / 2
    want = (box[0] * sx + dx, box[1] * sy + dy, box[2] * sx + dx, box[3] * sy + dy)
    want = (max(0, want[0]), max(0, want[1]), min(200, want[2]), min(120, want[3]))
    assert np.allclose(boxes[0], want, atol=1.5), (boxes[0], want)


def test_static_crop_moves_the_box_and_drops_faces_cut_out() -> None:
    image, box = _frame_and_box()
    h, w = image.shape[:2]
    spec = parse_recipe("preprocess: {static_crop: {x_min: 0.1, y_min: 0.1}}").preprocess
    out, boxes, labels = Preprocessor(spec, is_frame=True)(image, [box, (0, 0, 5, 5)], ["a", "b"])
    dx, dy = round(0.1 * w), round(0.1 * h)
    assert out.shape[:2] == (h - dy, w - dx)
    assert labels == ["a"]  # the second face lay entirely in the cut-off margin
    assert np.allclose(boxes[0], (box[0] - dx, box[1] - dy, box[2] - dx, box[3] - dy))
    # crops are faces already: the static crop is for frames only
    crop_out, _, _ = Preprocessor(spec, is_frame=False)(image, [], [])
    assert crop_out.shape == image.shape


def test_no_confirmed_samples_is_a_clear_error(tmp_path: Path) -> None:
    """Tried: a store with pending samples only. Kept: no version row, no folder."""
    s = FactoryStore(tmp_path / "data")
    s.add(5, state="pending")
    with pytest.raises(VersionError, match="no confirmed samples"):
        create_version(s.data_dir, s.db, "", progress=False)
    assert s.db["versions"].count == 0


def test_missing_blob_fails_the_build_cleanly(tmp_path: Path) -> None:
    """Tried: a confirmed sample whose crop file was deleted from the blob store. Kept: the
    samples as they were; the version is marked failed with the path; no partial folder."""
    s = FactoryStore(tmp_path / "data")
    rows = s.add(12, tracks=4)
    s.blobs.path(rows[3]["crop_sha256"]).unlink()
    with pytest.raises(VersionError, match="failed") as info:
        create_version(s.data_dir, s.db, "preprocess: {grayscale: true}", progress=False)
    assert rows[3]["crop_sha256"] in str(info.value)
    (row,) = s.db.query("select status, error from versions")
    assert row["status"] == "failed" and rows[3]["crop_sha256"] in row["error"]
    assert list((s.data_dir / "versions").iterdir()) == []
    assert s.db["version_samples"].count == 0
    assert s.db.execute("select count(*) from samples where state='confirmed'").fetchone()[0] == 12


def test_byte_identical_crops_are_kept_once(tmp_path: Path) -> None:
    """Tried: a second confirmed sample with the same crop bytes as another. Kept: the earlier
    one; the card counts the one left out; the store is unchanged."""
    s = FactoryStore(tmp_path / "data")
    rows = s.add(10, tracks=5)
    copy = {**rows[2], "id": "01J" + "9" * 23}
    s.db["samples"].insert(copy)
    version = create_version(s.data_dir, s.db, "task: classification", progress=False)
    assert version.samples == 10
    assert version.card["duplicates_dropped"] == 1
    assert "1 confirmed samples left out" in (version.path / "card.md").read_text()
    assert s.db["samples"].count == 11


def test_every_recipe_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Tried: a misspelt key, an unknown class and an unknown tag in one recipe. Before, the key
    came first and the class and tag only after it was fixed (two rounds)."""
    s = FactoryStore(tmp_path / "data")
    s.add(4, tracks=2)
    text = "task: classification\nmultiplyer: 2\nclasses: [happy, glad]\ntags: [nope]\n"
    with pytest.raises(RecipeError) as info:
        prepare_version(s.data_dir, s.db, text)
    lines = str(info.value).splitlines()
    assert any(line.startswith("multiplyer: unknown key") for line in lines), lines
    assert any("unknown class 'glad'" in line for line in lines), lines
    assert any("unknown tag 'nope'" in line for line in lines), lines
    assert s.db["versions"].count == 0
