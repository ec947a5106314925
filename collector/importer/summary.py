"""What an import did: outcomes (imported, already-imported, duplicate, held-back, skipped) and
reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from facetrove.collector.store.samples import InsertResult

EXAMPLES_PER_REASON = 5
#: how a stored face was found, by its detector column
_FACES = {"annotation": "annotated", "import": "cropped"}
#: Why a face is ``held-back``: stored, but as a copy the queue, counts and versions leave out
#: (``store.samples.COUNTED``).
HELD_BACK = (
    "byte-identical to an earlier sample's crop: kept as a copy of it, never queued or counted"
)
SUBJECTS_LISTED = 12


@dataclass
class ImportSummary:
    """Counts of one import. A unit is a face: one per crop or photo face, one per annotated
    box; a skipped file is one unit with its reason."""

    source: str
    format: str = ""
    files: int = 0  # images the format lists
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    faces: Counter[str] = field(default_factory=Counter)  # cropped | detected | annotated
    examples: dict[str, list[str]] = field(default_factory=dict)
    new_classes: list[str] = field(default_factory=list)
    labels: Counter[str] = field(default_factory=Counter)  # imported samples per label
    held_back: list[str] = field(default_factory=list)  # examples: "path (copy of <id>)"
    subjects: Counter[str] = field(default_factory=Counter)  # imported samples per subject
    subjects_filled: int = 0  # already imported samples given the subject they lacked
    stage: str = ""  # what a long step is doing now (progress displays show it)

    def skip(self, path: str, reason: str, detail: str = "") -> None:
        self.outcomes["skipped"] += 1
        self.reasons[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(f"{path[:160]}{f' ({detail[:120]})' if detail else ''}")

    def hold_back(self, path: str, earlier: str) -> None:
        """A face stored as a copy of sample ``earlier`` (the same crop bytes)."""
        self.outcomes["held-back"] += 1
        if len(self.held_back) < EXAMPLES_PER_REASON:
            self.held_back.append(f"{path[:160]} (copy of {earlier})")

    def stored(self, rows: Sequence[Mapping[str, Any]], result: InsertResult) -> None:
        """Count what inserting ``rows`` did. A new row whose crop bytes an earlier sample has
        (another import, an agent, a frame of other bytes but the same pixels) was stored as
        its copy: held back, not imported."""
        held = result.duplicates
        self.outcomes["imported"] += len(result.inserted) - len(held)
        self.outcomes["already-imported"] += len(result.already)
        inserted = set(result.inserted)
        for row in rows:
            if row["id"] in held:
                path = str(row["source"]).removeprefix(f"import:{self.source}/")
                self.hold_back(path, held[row["id"]])
            elif row["id"] in inserted:
                self.faces[_FACES.get(row["detector"], "detected")] += 1
                self.labels[row["provided_label"] or "(none)"] += 1
                if row.get("subject"):
                    self.subjects[row["subject"]] += 1

    def nothing_imported(self) -> str | None:
        """Why the import failed when every face it looked at was skipped (none imported,
        already there, duplicate or held back); None otherwise."""
        o = self.outcomes
        if not o["skipped"] or any(o[k] for k in ("imported", "already-imported", "duplicate")):
            return None
        if o["held-back"]:
            return None
        why = ", ".join(f"{n} {reason}" for reason, n in self.reasons.most_common())
        return f"{self.source}: nothing imported: all {o['skipped']} files were skipped ({why})"

    @property
    def imported(self) -> int:
        return self.outcomes["imported"]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "files": self.files,
            "outcomes": dict(self.outcomes),
            "reasons": dict(self.reasons),
            "faces": dict(self.faces),
            "labels": dict(self.labels),
            "new_classes": self.new_classes,
            "examples": self.examples,
            "held_back": {
                "count": self.outcomes["held-back"],
                "reason": HELD_BACK,
                "examples": self.held_back,
            },
            "subjects": dict(sorted(self.subjects.items())),
            "subjects_filled": self.subjects_filled,
        }

    def lines(self) -> list[str]:
        """The summary as a person reads it."""
        o = self.outcomes
        out = [
            f"{self.source} ({self.format}): {o['imported']} imported, "
            f"{o['already-imported']} already imported, {o['duplicate']} exact duplicates, "
            f"{o['skipped']} skipped" + (f", {o['held-back']} held back" if o["held-back"] else "")
        ]
        if self.faces:
            out.append("faces: " + ", ".join(f"{k} {v}" for k, v in sorted(self.faces.items())))
        if self.labels:
            out.append("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(self.labels.items())))
        if self.new_classes:
            out.append("new classes: " + ", ".join(self.new_classes))
        if o["held-back"]:
            out.append(f"held back {o['held-back']} ({HELD_BACK}): " + "; ".join(self.held_back))
        if self.subjects:
            named = sorted(self.subjects.items())
            listed = ", ".join(f"{k} {v}" for k, v in named[:SUBJECTS_LISTED])
            more = (
                f" and {len(named) - SUBJECTS_LISTED} more" if len(named) > SUBJECTS_LISTED else ""
            )
            out.append(f"subjects: {len(named)} ({listed}{more})")
        if self.subjects_filled:
            out.append(f"subject set on {self.subjects_filled} samples imported before without one")
        for reason, n in self.reasons.most_common():
            out.append(f"skipped {n} {reason}: " + "; ".join(self.examples.get(reason, [])))
        return out
