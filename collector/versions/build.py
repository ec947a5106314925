"""Creating a version: an immutable snapshot of confirmed samples, split, processed and carded.

Order of work: parse and check the recipe (nothing touched yet), select the confirmed samples,
split them once, write every image under ``versions/<id>.partial/`` with a process pool, write the
manifest and the card, rename the folder to ``versions/<id>`` and record the rows. A failed build
leaves the store's samples untouched and marks the version ``failed`` with the error.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import shutil
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.progress import Progress

from facetrove.collector.store import versions as version_rows
from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.classes import class_names
from facetrove.collector.store.db import Database
from facetrove.collector.store.samples import confirmed_samples as confirmed_rows
from facetrove.collector.versions import card as cards
from facetrove.collector.versions.preprocess import Box, clip_box
from facetrove.collector.versions.recipe import (
    VERSION_NAME,
    Recipe,
    RecipeError,
    canonical_yaml,
    parse_recipe,
    recipe_sha256,
)
from facetrove.collector.versions.recipe_checks import raw_lists, store_problems
from facetrove.collector.versions.split import (
    SplitError,
    SplitResult,
    SplitSample,
    check_subjects,
    split_samples,
)
from facetrove.collector.versions.work import Done, Job, Worker, describe, init_worker, run_chunk

MANIFEST = "manifest.jsonl"
_SPLIT_FIELDS = (
    "id", "label", "device_id", "track_id", "crop_sha256", "frame_sha256", "subject"
)  # fmt: skip
CHUNK = 64


class VersionError(Exception):
    """A version that cannot be created or found; the message is meant for the user."""


class VersionConflict(VersionError):
    """The version's name is taken: a version has it, or another request is creating it at
    the same time (HTTP 409 on the web and the API)."""


@dataclass(frozen=True)
class BuiltVersion:
    id: str
    path: Path
    samples: int
    images: int
    card: dict[str, Any]


def versions_root(data_dir: Path) -> Path:
    return data_dir / "versions"


def confirmed_samples(
    db: Database,
    classes: Sequence[str],
    tags: Sequence[str] | None = None,
    selection: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Confirmed samples whose label is one of ``classes`` (and, if ``tags`` is given, whose
    import tag is one of them; if ``selection`` is given, kept for one of these reasons), by
    id, and how many were dropped as byte-identical copies of an earlier sample's crop (the
    same image twice teaches nothing and would only weigh it double)."""
    kept, seen, dropped = [], set(), 0
    for row in confirmed_rows(db, classes, tags, selection):
        if row["crop_sha256"] in seen:
            dropped += 1
            continue
        seen.add(row["crop_sha256"])
        kept.append(row)
    return kept, dropped


def next_version_id(db: Database, name: str | None) -> str:
    """``name`` if given and free, else ``v<N>`` with the next free N."""
    if name and not re.fullmatch(VERSION_NAME, name):
        raise VersionError(
            f"version name {name!r} is not allowed: use lower case letters, digits, '.', '_'"
            " and '-', starting with a letter or digit (at most 63)"
        )
    taken = set(version_rows.version_ids(db))
    if name:
        if name in taken:
            raise VersionConflict(
                f"version {name!r} already exists; versions are immutable: choose another name "
                "(or delete it first with `facetrove collector version delete`)"
            )
        return name
    numbers = [int(m.group(1)) for t in taken if (m := re.fullmatch(r"v(\d+)", t))]
    return f"v{max(numbers, default=0) + 1}"


@dataclass(frozen=True)
class PreparedVersion:
    """A checked recipe, its samples and split, and the version's ``building`` row: what is
    left to do is writing the images (``build_prepared``)."""

    id: str
    recipe: Recipe
    recipe_text: str
    classes: list[str]
    samples: list[dict[str, Any]]
    duplicates: int
    split: SplitResult
    final: Path
    partial: Path


def prepare_version(
    data_dir: Path,
    db: Database,
    recipe_text: str,
    *,
    name: str | None = None,
    created_by: int | None = None,
) -> PreparedVersion:
    """Check the recipe, select and split the samples and record the version as ``building``.

    Fast (no image is read): raises RecipeError/VersionError before anything is written.
    """
    problems: list[str] = []
    try:
        recipe: Recipe | None = parse_recipe(recipe_text)
    except RecipeError as exc:
        recipe, problems = None, str(exc).splitlines()
    # The store's checks run on the raw values too, so every problem comes in one answer.
    problems += store_problems(db, raw_lists(recipe_text))
    if problems or recipe is None:
        raise RecipeError("\n".join(dict.fromkeys(problems)))
    classes = recipe.check_classes(class_names(db))
    samples, duplicates = confirmed_samples(db, classes, recipe.tags, recipe.selection)
    if not samples:
        tagged = f" and a tag in: {', '.join(recipe.tags)}" if recipe.tags else ""
        if recipe.selection:
            tagged += f" and a selection in: {', '.join(recipe.selection)}"
        raise VersionError(f"no confirmed samples with a label in: {', '.join(classes)}{tagged}")
    to_split = [SplitSample(*(s[k] for k in _SPLIT_FIELDS)) for s in samples]
    try:
        check_subjects(to_split, recipe.split)
    except SplitError as exc:
        raise VersionError(str(exc)) from None
    version_id = next_version_id(db, name or recipe.name)

    split = split_samples(to_split, recipe.split, recipe.seed, classes)
    final = versions_root(data_dir) / version_id
    partial = final.with_name(version_id + ".partial")
    if final.exists():
        raise VersionConflict(f"{final} already exists; remove it or choose another name")
    shutil.rmtree(partial, ignore_errors=True)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        version_rows.add_building(
            db,
            {
                "id": version_id,
                "created_at": now,
                "created_by": created_by,
                "recipe": recipe_text,
                "recipe_sha256": recipe_sha256(recipe_text),
                "snapshot_sha256": snapshot_sha256(samples),
                "samples": len(samples),
                "path": str(final),
            },
        )
    except version_rows.VersionTaken:
        raise VersionConflict(
            f"version {version_id!r} was just created by another request; try again"
            + ("" if name or recipe.name else " (the next number will be used)")
        ) from None
    return PreparedVersion(
        version_id, recipe, recipe_text, classes, samples, duplicates, split, final, partial
    )


def build_prepared(
    data_dir: Path,
    db: Database,
    prep: PreparedVersion,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> BuiltVersion:
    """Write a prepared version's images, manifest and card; mark it ``ready`` (or ``failed``
    with the error, raising VersionError)."""
    version_id, recipe, samples, split = prep.id, prep.recipe, prep.samples, prep.split
    partial, final = prep.partial, prep.final
    try:
        jobs = list(plan_jobs(recipe, samples, split.assignment, BlobStore(data_dir / "blobs")))
        for sub in {str(Path(j.out).parent) for j in jobs}:
            (partial / sub).mkdir(parents=True, exist_ok=True)
        done = run_jobs(recipe, partial, jobs, workers=workers, progress=progress)
        rows = manifest_rows(jobs, done)
        with open(partial / MANIFEST, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
        card = cards.make_card(
            version_id, recipe, prep.classes, samples, split, rows, prep.duplicates
        )
        (partial / "recipe.yaml").write_text(canonical_yaml(recipe), encoding="utf-8")
        (partial / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        (partial / "card.md").write_text(cards.card_markdown(card), encoding="utf-8")
        partial.rename(final)
    except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a worker process died
        shutil.rmtree(partial, ignore_errors=True)
        version_rows.mark_failed(db, version_id, str(exc))
        raise VersionError(f"building {version_id} failed: {exc}") from exc
    version_rows.mark_ready(
        db,
        version_id,
        json.dumps(card),
        ((s["id"], split.assignment[s["id"]], s["label"]) for s in samples),
    )
    return BuiltVersion(version_id, final, len(samples), len(rows), card)


def create_version(
    data_dir: Path,
    db: Database,
    recipe_text: str,
    *,
    name: str | None = None,
    created_by: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> BuiltVersion:
    """Build a version from recipe YAML; raises RecipeError/VersionError before any work."""
    prep = prepare_version(data_dir, db, recipe_text, name=name, created_by=created_by)
    return build_prepared(data_dir, db, prep, workers=workers, progress=progress)


def delete_version(data_dir: Path, db: Database, version_id: str) -> None:
    """Remove a version: its folder (and any partial one), its rows and its cached zip exports.

    Versions never change, but a failed build, or one stuck in ``building`` after a crash, has
    to be removed before its name can be used again. Samples are never touched.
    """
    if version_rows.get_version(db, version_id) is None:
        raise VersionError(f"no version {version_id!r}")
    root = versions_root(data_dir)
    shutil.rmtree(root / version_id, ignore_errors=True)
    shutil.rmtree(root / f"{version_id}.partial", ignore_errors=True)
    for cached in (data_dir / "exports").glob(f"{version_id}-*.zip"):
        cached.unlink()
    version_rows.delete_version_rows(db, version_id)


def snapshot_sha256(samples: Sequence[dict[str, Any]]) -> str:
    """Digest of the sorted (sample id, label) list: equal snapshots have equal digests."""
    h = hashlib.sha256()
    for s in sorted(samples, key=lambda s: s["id"]):
        h.update(f"{s['id']}\t{s['label']}\n".encode())
    return h.hexdigest()


def _frame_box(s: dict[str, Any]) -> Box | None:
    """The sample's face box in the stored frame JPEG's pixels (frames are sent downscaled)."""
    if not (s["frame_width"] and s["frame_image_width"] and s["box_xmax"] is not None):
        return None
    sx = s["frame_image_width"] / s["frame_width"]
    sy = s["frame_image_height"] / s["frame_height"]
    box = (s["box_xmin"] * sx, s["box_ymin"] * sy, s["box_xmax"] * sx, s["box_ymax"] * sy)
    return clip_box(box, s["frame_image_width"], s["frame_image_height"])


def plan_jobs(
    recipe: Recipe, samples: Sequence[dict[str, Any]], assignment: dict[str, str], blobs: BlobStore
) -> Iterator[Job]:
    """Every output image of the version, in a fixed order."""
    copies_train = list(range(1, recipe.multiplier + 1)) if recipe.augmentations.enabled() else []
    if recipe.keep_original or not copies_train:
        copies_train = [0, *copies_train]
    index = 0

    def copies(split: str) -> list[int]:
        return copies_train if split == "train" else [0]

    if recipe.task in ("classification", "both"):
        for s in samples:
            split = assignment[s["id"]]
            for c in copies(split):
                suffix = f"-a{c}" if c else ""
                yield Job(
                    index, "crop", str(blobs.path(s["crop_sha256"])),
                    f"crops/{split}/{s['id']}{suffix}.jpg", s["id"], c,
                    s["crop_width"], s["crop_height"], (), (s["label"],),
                )  # fmt: skip
                index += 1
    if recipe.task in ("detection", "both"):
        # Samples cut from one frame share one image carrying all their boxes; the split keeps
        # them together because they are grouped by track or, failing that, by frame below.
        frames: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for s in samples:
            if s["frame_sha256"] and _frame_box(s) is not None:
                frames[(s["frame_sha256"], assignment[s["id"]])].append(s)
        for (sha, split), group in sorted(frames.items(), key=lambda kv: kv[1][0]["id"]):
            first = group[0]
            boxes = tuple(b for s in group if (b := _frame_box(s)) is not None)
            for c in copies(split):
                suffix = f"-a{c}" if c else ""
                yield Job(
                    index, "frame", str(blobs.path(sha)),
                    f"frames/{split}/{first['id']}{suffix}.jpg", first["id"], c,
                    first["frame_image_width"], first["frame_image_height"],
                    boxes, tuple(s["label"] for s in group),
                )  # fmt: skip
                index += 1


def run_jobs(
    recipe: Recipe,
    root: Path,
    jobs: list[Job],
    *,
    workers: int | None = None,
    progress: bool = True,
) -> list[Done]:
    """Run the jobs on ``workers`` processes (default: all cores) with a progress bar."""
    workers = workers or os.cpu_count() or 1
    chunks = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    results: list[Done] = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("images", total=len(jobs))
        if workers == 1 or len(chunks) <= 1:
            worker = Worker(recipe, root)
            for job in jobs:
                results.append(worker.run(job))
                bar.advance(task)
        else:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["facetrove.collector.versions.work"])
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=init_worker,
                initargs=(recipe.model_dump_json(), str(root)),
            ) as pool:  # fmt: skip
                futures = [pool.submit(run_chunk, c) for c in chunks]
                for fut in as_completed(futures):
                    part = fut.result()
                    results.extend(part)
                    bar.advance(task, len(part))
    results.sort(key=lambda d: d.index)
    return results


def manifest_rows(jobs: list[Job], done: list[Done]) -> list[dict[str, Any]]:
    """One manifest row per image, in job order."""
    rows = []
    for job, d in zip(jobs, done, strict=True):
        rows.append(
            {
                "file": job.out,
                "kind": job.kind,
                "split": job.out.split("/")[1],
                "sample_id": job.name,
                "copy": job.copy,
                **describe(d),
            }
        )
    return rows


__all__ = [
    "BuiltVersion",
    "PreparedVersion",
    "RecipeError",
    "VersionError",
    "build_prepared",
    "create_version",
    "prepare_version",
]
