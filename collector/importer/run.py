"""One import: read a folder or zip in some format, check every image, store new samples.

Order of work: list the tree (unsafe entries set aside), read the format's annotations, check
the labels (an unknown class stops the import before anything is written, unless classes may be
added), then batches of images: read, hash, skip what is already stored or seen, decode, cut
crops, write the blobs, sync once, commit the rows. Photos that need face detection are handed
to the agent's own pipeline in a subprocess at the end (the collector never imports the agent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from facetrove.collector.export.registry import CLASSES_FILE
from facetrove.collector.importer import images as img
from facetrove.collector.importer.base import ImportRefused, Item
from facetrove.collector.importer.detect import detect_faces, fills_image
from facetrove.collector.importer.labels import resolve_labels
from facetrove.collector.importer.registry import detect_format, get_reader
from facetrove.collector.importer.rows import Provenance, crop_row, detected_row, frame_row
from facetrove.collector.importer.subjects import parse_subject_rule, with_subjects
from facetrove.collector.importer.summary import ImportSummary
from facetrove.collector.importer.tree import (
    MAX_TOTAL_BYTES,
    TEXT_SUFFIXES,
    EntryError,
    Tree,
    open_tree,
)
from facetrove.collector.store.blobs import BlobStore, FileSystem
from facetrove.collector.store.db import Database, now_iso
from facetrove.collector.store.imports import (
    fill_subjects,
    known_crops,
    known_import_keys,
    store_imported,
)

T = TypeVar("T")
Progress = Callable[[ImportSummary, int, int], None]
BATCH = 256
MAX_TAG = 200


@dataclass(frozen=True)
class ImportOptions:
    """The choices of one import (the CLI's options; the web page fills the same)."""

    fmt: str = "auto"
    state: Literal["confirmed", "pending"] = "confirmed"
    tag: str | None = None
    faces: Literal["auto", "cropped", "detect"] = "auto"
    add_classes: bool = False
    user_id: int | None = None
    agent_command: Sequence[str] | None = None  # argv prefix of `facetrove agent`
    max_total_bytes: int = MAX_TOTAL_BYTES  # what a zip may unpack to, in all
    subject_from: str | None = None  # "parent" or "regex:PATTERN" (importer/subjects.py)


@dataclass
class _Unit:
    """One face to store: a crop image, or one box of a frame."""

    item: Item
    sha: str  # of the file
    key: str
    label: str | None
    box: tuple[int, int, int, int] | None = None
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Photo:
    """An unannotated image that goes to face detection."""

    item: Item
    sha: str
    width: int
    height: int


def check_tag(tag: str | None) -> str | None:
    """A tag as stored: stripped, printable, at most MAX_TAG characters. Raises ImportRefused."""
    if tag is None or not tag.strip():
        return None
    tag = tag.strip()
    if len(tag) > MAX_TAG or not tag.isprintable():
        raise ImportRefused(f"--tag must be 1-{MAX_TAG} printable characters")
    return tag


class Importer:
    """Imports trees into one store."""

    def __init__(
        self,
        data_dir: Path,
        db: Database,
        options: ImportOptions,
        progress: Progress | None = None,
    ) -> None:
        self.data_dir, self.db, self.options = data_dir, db, options
        self.blobs = BlobStore(data_dir / "blobs")
        self.fs = FileSystem()
        self.progress = progress
        self.seen_keys: set[str] = set()
        self._seen_crops: set[str] = set()
        self.labels: dict[str, str] = {}
        self.subjects: dict[str, str | None] = {}  # image path -> subject

    def run(self, path: Path) -> ImportSummary:
        """Import ``path`` (a folder or a zip). Raises ImportRefused with nothing written."""
        tag = check_tag(self.options.tag)
        parse_subject_rule(self.options.subject_from)  # a bad rule is refused before any reading
        tree = open_tree(path, max_total_bytes=self.options.max_total_bytes)
        try:
            return self._run(tree, tag)
        finally:
            tree.close()

    def _run(self, tree: Tree, tag: str | None) -> ImportSummary:
        opts = self.options
        reader = detect_format(tree) if opts.fmt == "auto" else get_reader(opts.fmt)
        read = reader.read(tree)
        summary = ImportSummary(tree.name, reader.name, len(read.items))
        for skip in [*tree.skipped, *read.skipped]:
            summary.skip(skip.path, skip.reason, skip.detail)
        for path in sorted(tree.files):
            # classes.txt at the top is an export's class order, not a skipped file.
            if path == CLASSES_FILE:
                continue
            if Path(path).suffix.lower() in TEXT_SUFFIXES and path not in read.used:
                summary.skip(path, "not-an-image")
        # both before any write: a refused import adds no class
        read.items, self.subjects = with_subjects(self.options.subject_from, read.items, summary)
        self.labels = resolve_labels(
            self.db, read.items, summary, self.options.add_classes, self.options.user_id
        )
        prov = Provenance(tree.name, tag, now_iso())
        photos: list[_Photo] = []
        total = len(read.items)
        for start in range(0, total, BATCH):
            batch = read.items[start : start + BATCH]
            photos += self._batch(tree, batch, prov, summary)
            if self.progress:
                self.progress(summary, min(start + BATCH, total), total)
        if photos:
            summary.stage = f"finding the faces of {len(photos)} photos with the agent"
            if self.progress:
                self.progress(summary, total, total)
            self._detect(tree, photos, prov, summary)
            summary.stage = ""
            if self.progress:
                self.progress(summary, total, total)
        return summary

    # -- one batch -------------------------------------------------------------------------

    def _batch(
        self,
        tree: Tree,
        items: Sequence[Item],
        prov: Provenance,
        summary: ImportSummary,
        *,
        whole: bool = False,
    ) -> list[_Photo]:
        """Store the crops and annotated boxes of ``items``; return the photos to detect.

        ``whole``: every unannotated image is a crop (photos the detector sent back)."""
        units: list[_Unit] = []
        data: dict[str, tuple[bytes, int, int]] = {}
        photos: list[_Photo] = []
        for item in items:
            try:
                raw = tree.read(item.path)
                w, h = img.header_size(raw)
            except EntryError as exc:
                summary.skip(item.path, exc.reason, str(exc))
                continue
            except img.BadImage as exc:
                summary.skip(item.path, exc.reason, str(exc))
                continue
            sha = hashlib.sha256(raw).hexdigest()
            data[item.path] = (raw, w, h)
            if item.annotated:
                units += self._box_units(item, sha, w, h, summary)
                continue
            label = self.labels.get(item.labels[0]) if item.labels[0] else None
            faces = self.options.faces
            if not whole and (
                faces == "detect" or (faces == "auto" and not img.looks_like_crop(w, h))
            ):
                photos.append(_Photo(item, sha, w, h))
                continue
            units.append(_Unit(item, sha, sha, label))
        units = self._new_units(units, summary)
        rows = self._make_rows(units, data, prov, summary)
        self.store(rows, summary)
        return photos

    def _box_units(
        self, item: Item, sha: str, w: int, h: int, summary: ImportSummary
    ) -> list[_Unit]:
        out = []
        for label, box in zip(item.labels, item.boxes, strict=True):
            try:
                px = img.pixel_box(box, w, h, item.normalized)
            except img.BadImage as exc:
                summary.skip(item.path, exc.reason, str(exc))
                continue
            key = f"{sha}:{px[0]},{px[1]},{px[2]},{px[3]}"
            out.append(_Unit(item, sha, key, self.labels.get(label or ""), px))
        return out

    def _new_units(self, units: list[_Unit], summary: ImportSummary) -> list[_Unit]:
        return self._fresh(
            units, lambda u: u.key, summary, lambda u: self.subjects.get(u.item.path)
        )

    def _fresh(
        self,
        things: list[T],
        key: Callable[[T], str],
        summary: ImportSummary,
        subject: Callable[[T], str | None],
    ) -> list[T]:
        """Drop what was seen earlier in this import (duplicate) or stored before (already).
        A stored one without a subject gets the one the rule gives it now."""
        fresh = []
        for thing in things:
            if key(thing) in self.seen_keys:
                summary.outcomes["duplicate"] += 1
                continue
            self.seen_keys.add(key(thing))
            fresh.append(thing)
        known = known_import_keys(self.db, [key(t) for t in fresh])
        summary.outcomes["already-imported"] += sum(1 for t in fresh if key(t) in known)
        if self.subjects and known:
            wanted = {key(t): subject(t) for t in fresh if key(t) in known}
            summary.subjects_filled += fill_subjects(self.db, wanted)
        return [t for t in fresh if key(t) not in known]

    def _make_rows(
        self,
        units: list[_Unit],
        data: dict[str, tuple[bytes, int, int]],
        prov: Provenance,
        summary: ImportSummary,
    ) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
        decoded: dict[str, np.ndarray] = {}
        made = []
        for unit in units:
            raw = data[unit.item.path][0]
            try:
                pixels = decoded.get(unit.item.path)
                if pixels is None:
                    pixels = decoded[unit.item.path] = img.decode(raw)
                blobs, row = self._unit_row(unit, raw, pixels, prov)
                row["subject"] = self.subjects.get(unit.item.path)
            except img.BadImage as exc:
                summary.skip(unit.item.path, exc.reason, str(exc))
                continue
            made.append((row, blobs))
        # A crop file whose bytes some stored sample already has (from an agent, another import)
        # is an exact duplicate. A crop cut from an annotated frame is not judged by its bytes:
        # two frames may hold the same face pixels; their identity is the frame file plus box.
        whole = [r["crop_sha256"] for r, _ in made if r["detector"] == "import"]
        known = known_crops(self.db, whole)
        out = []
        for row, blobs in made:
            sha = row["crop_sha256"]
            if row["detector"] == "import":
                if sha in known or sha in self._seen_crops:
                    summary.outcomes["duplicate"] += 1
                    continue
                self._seen_crops.add(sha)
            out.append((row, blobs))
        return out

    def _unit_row(
        self, unit: _Unit, raw: bytes, pixels: np.ndarray, prov: Provenance
    ) -> tuple[dict[str, bytes], dict[str, Any]]:
        h, w = pixels.shape[:2]
        path = unit.item.path
        if unit.box is None:
            crop = raw if img.is_jpeg(raw) else img.encode_jpeg(pixels)
            csha = hashlib.sha256(crop).hexdigest()
            blur, bright = img.quality(pixels)
            row = crop_row(prov, path, unit.label, unit.sha, (csha, w, h, len(crop)), blur, bright)
            return {csha: crop}, row
        frame = raw if img.is_jpeg(raw) else img.encode_jpeg(pixels)
        fsha = hashlib.sha256(frame).hexdigest()
        x0, y0, x1, y1 = unit.box
        if x1 > w or y1 > h:  # the header and the decoded size disagree
            raise img.BadImage("box-outside-image", f"box {unit.box} in {w}x{h}")
        face = pixels[y0:y1, x0:x1]
        crop = img.encode_jpeg(face)
        csha = hashlib.sha256(crop).hexdigest()
        blur, bright = img.quality(face)
        row = frame_row(
            prov, path, unit.label or "", unit.sha, (fsha, w, h), unit.box,
            (csha, x1 - x0, y1 - y0, len(crop)), blur, bright,
        )  # fmt: skip
        return {csha: crop, fsha: frame}, row

    def store(
        self, rows: list[tuple[dict[str, Any], dict[str, bytes]]], summary: ImportSummary
    ) -> None:
        """Blobs first (one sync for the batch), then the rows in one transaction."""
        if not rows:
            return
        for _, blobs in rows:
            for sha, blob in blobs.items():
                self.blobs.put(blob, sha, fsync=False)
        folders = {self.blobs.path(sha).parent for _, blobs in rows for sha in blobs}
        self.fs.sync(self.blobs.root, sorted(folders))
        confirm = self.options.state == "confirmed"
        result = store_imported(
            self.db,
            [r for r, _ in rows],
            confirm=confirm,
            user_id=self.options.user_id,
            detail=f"{summary.source} ({summary.format})",
        )
        summary.stored([r for r, _ in rows], result)

    # -- photos: faces found by the agent --------------------------------------------------

    def _detect(
        self, tree: Tree, photos: list[_Photo], prov: Provenance, summary: ImportSummary
    ) -> None:
        """Detect the faces of ``photos`` with the agent; with ``--faces auto`` an image that is
        one face filling 40% of it, or a nearly square one with no face found, is a crop."""

        found = detect_faces(
            self.data_dir, self.options.agent_command, tree, [p.item.path for p in photos]
        )
        auto = self.options.faces == "auto"
        whole: list[Item] = []
        rows: list[tuple[dict[str, Any], dict[str, bytes]]] = []
        for photo in photos:
            path = photo.item.path
            square = img.looks_like_crop(photo.width, photo.height, max_side=None)
            if path in found.failed:
                if auto and square and found.no_agent:
                    whole.append(photo.item)
                else:
                    reason = "needs-detection" if found.no_agent else "detection-failed"
                    summary.skip(path, reason, found.failed[path])
                continue
            samples = found.samples.get(path, [])
            if auto and (
                fills_image(samples, photo.width, photo.height) or (square and not samples)
            ):
                whole.append(photo.item)
            elif not samples:
                summary.skip(path, "no-face", "the detector found no face")
            else:
                label = photo.item.labels[0]
                label = self.labels.get(label) if label else None
                subject = self.subjects.get(path)
                for s in samples:
                    row, blobs = detected_row(prov, path, label, photo.sha, s)
                    rows.append(({**row, "subject": subject}, blobs))
        for start in range(0, len(whole), BATCH):
            self._batch(tree, whole[start : start + BATCH], prov, summary, whole=True)
        fresh = self._fresh(
            rows, lambda r: str(r[0]["import_key"]), summary, lambda r: r[0]["subject"]
        )
        self.store(fresh, summary)
