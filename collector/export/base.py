"""What every exporter gets: a version read back from its folder (manifest + card)."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from facetrove.collector.versions.recipe import SPLITS

Task = Literal["classification", "detection"]


class ExportError(Exception):
    """An export that cannot be made; the message is meant for the user."""


@dataclass(frozen=True)
class Image:
    """One image of a version: a file, its split, size, and labels (boxes for frames)."""

    path: str  # absolute file path (a str: tens of thousands of pathlib joins add up)
    split: str
    width: int
    height: int
    labels: tuple[str, ...]
    boxes: tuple[tuple[float, float, float, float], ...]

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def stem(self) -> str:
        return os.path.splitext(self.name)[0]


class VersionData:
    """A built version as exporters see it; each kind of image is parsed when first asked for."""

    def __init__(
        self,
        id: str,
        root: Path,
        classes: tuple[str, ...],
        lines: list[str],
        built_for: str = "both",
    ) -> None:
        self.id, self.root, self.classes = id, root, classes
        self.built_for = built_for  # the recipe's task: classification | detection | both
        self._lines = lines
        self._parsed: dict[str, tuple[Image, ...]] = {}

    def _kind(self, kind: str) -> tuple[Image, ...]:
        if kind not in self._parsed:
            prefix = str(self.root) + os.sep
            marker = f'"kind": "{kind}"'  # manifest lines are written with sort_keys
            images = []
            for line in self._lines:
                if marker not in line:
                    continue
                row: dict[str, Any] = json.loads(line)
                images.append(
                    Image(
                        prefix + row["file"],
                        row["split"],
                        row["width"],
                        row["height"],
                        tuple(row["labels"]),
                        tuple((b[0], b[1], b[2], b[3]) for b in row["boxes"]),
                    )
                )
            self._parsed[kind] = tuple(images)
        return self._parsed[kind]

    @property
    def crops(self) -> tuple[Image, ...]:
        return self._kind("crop")

    @property
    def frames(self) -> tuple[Image, ...]:
        return self._kind("frame")

    def images(self, task: Task) -> tuple[Image, ...]:
        """Crops for classification, frames with boxes for detection."""
        found = self.crops if task == "classification" else self.frames
        if not found:
            kind = "face crops" if task == "classification" else "frames with boxes"
            if self.built_for not in (task, "both"):
                raise ExportError(
                    f"version {self.id} has no {kind}: it was built with task:"
                    f" {self.built_for}; build another with task: {task} or both"
                )
            # Built for detection, yet no frame: none of its samples came with a full frame.
            raise ExportError(
                f"version {self.id} has no {kind}: none of its samples came with a full frame"
                " (agents send one only with crop.send_frame: true); use a classification"
                " format (csv, folder, yolo-cls) or collect samples with frames"
            )
        return found

    def by_split(self, task: Task) -> Iterator[tuple[str, list[Image]]]:
        """(split, images) for each split, in the order train, valid, test (empty ones too)."""
        images = self.images(task)
        for split in SPLITS:
            yield split, [i for i in images if i.split == split]

    def class_id(self, label: str) -> int:
        return self.classes.index(label)


def load_version(root: Path) -> VersionData:
    """Read a version folder written by collector.versions.build."""
    try:
        card = json.loads((root / "card.json").read_text(encoding="utf-8"))
        lines = (root / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise ExportError(
            f"{root} is not a complete version folder ({exc.filename} missing)"
        ) from exc
    built_for = str(card.get("recipe", {}).get("task", "both"))
    return VersionData(card["version"], root, tuple(card["classes"]), lines, built_for)


_PENDING: contextvars.ContextVar[dict[str, list[str]] | None] = contextvars.ContextVar(
    "export_pending_copies", default=None
)
#: sources per `cp` call: far below any command-line length limit
CP_BATCH = 400


def copy_image(image: Image, folder: str) -> None:
    """Copy an image's file into ``folder`` under its own name.

    Inside ``batched_copies()`` the copy is queued and done at the end by the system's ``cp``
    (hundreds of files per call); otherwise it happens here and now.
    """
    pending = _PENDING.get()
    if pending is None:
        shutil.copyfile(image.path, os.path.join(folder, image.name))
    else:
        pending.setdefault(folder, []).append(image.path)


def write_file(path: str, data: bytes) -> None:
    """Write a small annotation file."""
    with open(path, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def batched_copies(threads: int = 2) -> Iterator[None]:
    """Queue ``copy_image`` calls and run them at exit with ``cp`` on ``threads`` threads.

    Copying ten thousand files one Python call at a time costs several times what ``cp -r``
    does; handing ``cp`` hundreds of files per call costs about the same as ``cp -r``.
    """
    pending: dict[str, list[str]] = {}
    token = _PENDING.set(pending)
    try:
        yield
    finally:
        _PENDING.reset(token)
    cp = shutil.which("cp")
    jobs = [
        (folder, sources[i : i + CP_BATCH])
        for folder, sources in pending.items()
        for i in range(0, len(sources), CP_BATCH)
    ]
    with ThreadPoolExecutor(threads, thread_name_prefix="export-copy") as pool:
        list(pool.map(lambda job: _copy_batch(cp, *job), jobs))


def _copy_batch(cp: str | None, folder: str, sources: list[str]) -> None:
    if cp is None:  # no cp (Windows): plain copies
        for src in sources:
            shutil.copyfile(src, os.path.join(folder, os.path.basename(src)))
        return
    proc = subprocess.run([cp, "--", *sources, folder], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ExportError(f"copying images into {folder} failed: {proc.stderr.strip()[-500:]}")


class Exporter(Protocol):
    """One export format."""

    name: str  # the --format value
    task: Task
    description: str

    def write(self, version: VersionData, out: Path) -> None:
        """Write the dataset into the empty folder ``out``."""
