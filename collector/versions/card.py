"""The version card: what is in a version, where it came from, and how far to trust it.

The card holds no creation time, so the same recipe on the same samples gives a byte-identical
card (the time lives in the ``versions`` row).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from facetrove.collector.versions.recipe import SPLITS, Recipe
from facetrove.collector.versions.split import SplitResult

SUBJECTS_IN_MARKDOWN = 30
PROVENANCE = (
    "Images were captured by facetrove agents on the devices listed, cropped and pre-labelled "
    "automatically, and every label here was confirmed or corrected by a human reviewer. Faces "
    "are personal data: keep the consent and licence terms under which they were collected, and "
    "do not publish this dataset beyond them."
)
_TERMS = PROVENANCE[PROVENANCE.index("Faces are personal data") :]


def provenance(samples: Sequence[dict[str, Any]]) -> str:
    """Where the faces came from: agents (reviewed), or data sets brought in by an import (the
    device ``import``), whose images no agent captured and whose labels, when imported as
    confirmed, are the data set's."""
    from facetrove.collector.importer.rows import DEVICE_ID

    imported = sum(1 for s in samples if s["device_id"] == DEVICE_ID)
    if not imported:
        return PROVENANCE
    text = (
        f"{imported} of the {len(samples)} samples were imported from data sets (device"
        f" '{DEVICE_ID}'; the import tags name their sources and licence notes): no facetrove"
        " agent captured them, and those imported as confirmed keep the data set's labels"
        " without a review here."
    )
    if imported < len(samples):
        text += (
            " The others were captured by facetrove agents on the devices listed, cropped and"
            " pre-labelled automatically, and their labels confirmed or corrected by a human"
            " reviewer."
        )
    return f"{text} {_TERMS}"


def make_card(
    version_id: str,
    recipe: Recipe,
    classes: Sequence[str],
    samples: Sequence[dict[str, Any]],
    split: SplitResult,
    rows: Sequence[dict[str, Any]],
    duplicates: int = 0,
) -> dict[str, Any]:
    """The card as a JSON-ready dict."""
    per_split: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    for s in samples:
        per_split[split.assignment[s["id"]]][s["label"]] += 1
    images: dict[str, Counter[str]] = defaultdict(Counter)
    boxes_lost = 0
    for r in rows:
        images[r["kind"]][r["split"]] += 1
        if r["kind"] == "frame" and not r["boxes"]:
            boxes_lost += 1
    right = Counter(s["label"] for s in samples if s["prelabel_label"] == s["label"])
    total = Counter(s["label"] for s in samples)
    captured = sorted(s["captured_at"] for s in samples if s["captured_at"])
    return {
        "version": version_id,
        "classes": list(classes),
        "samples": len(samples),
        "duplicates_dropped": duplicates,
        "counts": {sp: {c: per_split[sp][c] for c in classes} for sp in SPLITS},
        "images": {kind: {sp: images[kind][sp] for sp in SPLITS} for kind in sorted(images)},
        "frames_without_box": boxes_lost,
        "devices": dict(sorted(Counter(s["device_id"] for s in samples).items())),
        "date_range": {"first": captured[0], "last": captured[-1]} if captured else None,
        "prelabel_accuracy": {
            "overall": round(sum(right.values()) / len(samples), 4) if samples else None,
            "per_class": {c: round(right[c] / total[c], 4) if total[c] else None for c in classes},
            "models": sorted({s["prelabel_model_id"] or "?" for s in samples}),
        },
        "leakage": split.leakage,
        "recipe": recipe.model_dump(mode="json"),
        "provenance": provenance(samples),
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The card as markdown, for people."""
    classes = card["classes"]
    lines = [f"# Dataset version {card['version']}", ""]
    lines += [f"{card['samples']} confirmed samples, {len(classes)} classes."]
    if card.get("duplicates_dropped"):
        lines.append(
            f"{card['duplicates_dropped']} confirmed samples left out: byte-identical crops of"
            " an earlier sample."
        )
    lines.append("")
    lines += ["## Samples per class and split", ""]
    lines += ["| class | " + " | ".join(SPLITS) + " | total |", "|---" * (len(SPLITS) + 2) + "|"]
    for c in classes:
        n = [card["counts"][s][c] for s in SPLITS]
        lines.append(f"| {c} | " + " | ".join(map(str, n)) + f" | {sum(n)} |")
    lines += ["", "## Images written", ""]
    for kind, per in card["images"].items():
        lines.append(f"- {kind}: " + ", ".join(f"{s} {per[s]}" for s in SPLITS))
    if card["frames_without_box"]:
        lines.append(
            f"- frames whose box fell outside after preprocessing: {card['frames_without_box']}"
        )
    lines += ["", "## Devices", ""]
    lines += [f"- {d}: {n} samples" for d, n in card["devices"].items()]
    if card["date_range"]:
        dr = card["date_range"]
        lines += ["", f"Captured from {dr['first']} to {dr['last']}."]
    acc = card["prelabel_accuracy"]
    lines += ["", "## Pre-label accuracy on this version", ""]
    lines.append(f"Overall: {_pct(acc['overall'])} (models: {', '.join(acc['models'])})")
    lines += [f"- {c}: {_pct(v)}" for c, v in acc["per_class"].items()]
    lk = card["leakage"]
    lines += ["", "## Leakage report", ""]
    lines += [
        f"- groups (tracks/devices/subjects joined with identical images): {lk['groups']}",
        f"- tracks straddling splits: {lk['tracks_straddling_splits']}",
        f"- identical images in several splits: {lk['identical_images_across_splits']}",
        f"- devices in several splits: {lk['devices_in_several_splits']}"
        f" (split.group_by: {card['recipe']['split']['group_by']})",
        f"- samples without a track id: {lk['samples_without_track']}",
        *_subject_lines(lk),
    ]
    r = card["recipe"]
    aug = [k for k, v in r["augmentations"].items() if v is not None]
    lines += ["", "## Recipe", ""]
    lines += [
        f"- seed {r['seed']}, split " + "/".join(str(r["split"][s]) for s in SPLITS),
        f"- task: {r['task']}",
        f"- preprocessing: {_preprocess(r['preprocess'])}",
        f"- augmentations (train only): {', '.join(aug) or 'none'}; multiplier {r['multiplier']}",
        "",
        "The full recipe is in recipe.yaml next to this card.",
        "",
        "## Licence and provenance",
        "",
        card["provenance"],
        "",
    ]
    return "\n".join(lines)


def _subject_lines(lk: dict[str, Any]) -> list[str]:
    """The leakage report's subjects (people): how many, which split holds whom, and any
    person in several splits. Cards of versions built before subjects existed have none."""
    if "subjects" not in lk:
        return []
    if not lk["subjects"]:
        return ["- subjects (people): none recorded (collector import --subject-from)"]
    lines = [
        f"- subjects (people): {lk['subjects']}; in several splits:"
        f" {lk['subjects_straddling_splits']}"
        + (
            f" ({', '.join(lk['subjects_straddling_examples'])})"
            if lk["subjects_straddling_examples"]
            else ""
        )
    ]
    for split in SPLITS:
        per = lk["subjects_per_split"][split]
        names = per["names"][:SUBJECTS_IN_MARKDOWN]
        more = per["count"] - len(names)
        lines.append(
            f"  - {split} ({per['count']}): {', '.join(names) or '-'}"
            + (f" and {more} more" if more > 0 else "")
        )
    lines.append(f"- samples without a subject: {lk['samples_without_subject']}")
    return lines


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.1f}%"


def _preprocess(p: dict[str, Any]) -> str:
    parts = []
    if p["static_crop"]:
        parts.append("static crop")
    if p["resize"]:
        rs = p["resize"]
        parts.append(f"resize {rs['width']}x{rs['height']} ({rs['mode']})")
    if p["grayscale"]:
        parts.append("grayscale")
    if p["equalize"] != "none":
        parts.append(f"equalize ({p['equalize']})")
    return ", ".join(parts) or "none"
