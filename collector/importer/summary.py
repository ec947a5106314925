"""What an import did: outcomes (imported, already-imported, duplicate, skipped) and reasons."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

EXAMPLES_PER_REASON = 5


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
    stage: str = ""  # what a long step is doing now (progress displays show it)

    def skip(self, path: str, reason: str, detail: str = "") -> None:
        self.outcomes["skipped"] += 1
        self.reasons[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(f"{path[:160]}{f' ({detail[:120]})' if detail else ''}")

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
        }

    def lines(self) -> list[str]:
        """The summary as a person reads it."""
        o = self.outcomes
        out = [
            f"{self.source} ({self.format}): {o['imported']} imported, "
            f"{o['already-imported']} already imported, {o['duplicate']} exact duplicates, "
            f"{o['skipped']} skipped"
        ]
        if self.faces:
            out.append("faces: " + ", ".join(f"{k} {v}" for k, v in sorted(self.faces.items())))
        if self.labels:
            out.append("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(self.labels.items())))
        if self.new_classes:
            out.append("new classes: " + ", ".join(self.new_classes))
        for reason, n in self.reasons.most_common():
            out.append(f"skipped {n} {reason}: " + "; ".join(self.examples.get(reason, [])))
        return out
