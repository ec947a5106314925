"""What every exporter gets: a version read back from its folder (manifest + card)."""

from __future__ import annotations

import contextlib
import contextvars
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from collector.versions.recipe import SPLITS

Task = Literal["classification", "detection"]


class ExportError(Exception):
    """An export that cannot be made; the message is meant for the user."""


@dataclass(frozen=True)
class Image:
    """One image of a version: a file, its split, size, and labels (boxes for frames)."""

    path: Path
    split: str
    width: int
    height: int
    labels: tuple[str, ...]
    boxes: tuple[tuple[float, float, float, float], ...]

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class VersionData:
    """A built version as exporters see it."""

    id: str
    root: Path
    classes: tuple[str, ...]
    crops: tuple[Image, ...]
    frames: tuple[Image, ...]

    def images(self, task: Task) -> tuple[Image, ...]:
        """Crops for classification, frames with boxes for detection."""
        found = self.crops if task == "classification" else self.frames
        if not found:
            kind = "face crops" if task == "classification" else "frames with boxes"
            raise ExportError(
                f"version {self.id} has no {kind}: build it with task: {task} or both"
                " (detection also needs samples that came with a frame)"
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
    crops: list[Image] = []
    frames: list[Image] = []
    for line in lines:
        row: dict[str, Any] = json.loads(line)
        image = Image(
            root / row["file"],
            row["split"],
            row["width"],
            row["height"],
            tuple(row["labels"]),
            tuple((b[0], b[1], b[2], b[3]) for b in row["boxes"]),
        )
        (crops if row["kind"] == "crop" else frames).append(image)
    return VersionData(card["version"], root, tuple(card["classes"]), tuple(crops), tuple(frames))


_POOL: contextvars.ContextVar[list[Future[Any]] | None] = contextvars.ContextVar(
    "export_copies", default=None
)
_EXECUTOR: contextvars.ContextVar[ThreadPoolExecutor | None] = contextvars.ContextVar(
    "export_executor", default=None
)


def copy_image(image: Image, folder: Path) -> None:
    """Copy an image's file into ``folder`` under its own name.

    Inside ``parallel_copies()`` the copy runs on a thread pool (copying is system calls, which
    release the GIL, so several run at once); otherwise it happens here and now.
    """
    executor, futures = _EXECUTOR.get(), _POOL.get()
    if executor is None or futures is None:
        shutil.copyfile(image.path, folder / image.name)
        return
    futures.append(executor.submit(shutil.copyfile, image.path, folder / image.name))


def write_file(path: Path, data: bytes) -> None:
    """Write a small annotation file; on the copy threads inside ``parallel_copies()``."""
    executor, futures = _EXECUTOR.get(), _POOL.get()
    if executor is None or futures is None:
        path.write_bytes(data)
        return
    futures.append(executor.submit(path.write_bytes, data))


@contextlib.contextmanager
def parallel_copies(threads: int = 8) -> Iterator[None]:
    """Run ``copy_image`` calls on ``threads`` threads; waits for all (and raises) at exit."""
    futures: list[Future[Any]] = []
    with ThreadPoolExecutor(threads, thread_name_prefix="export-copy") as executor:
        t1, t2 = _EXECUTOR.set(executor), _POOL.set(futures)
        try:
            yield
        finally:
            _EXECUTOR.reset(t1)
            _POOL.reset(t2)
        for fut in futures:
            fut.result()


class Exporter(Protocol):
    """One export format."""

    name: str  # the --format value
    task: Task
    description: str

    def write(self, version: VersionData, out: Path) -> None:
        """Write the dataset into the empty folder ``out``."""
