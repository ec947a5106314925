"""An import's labels: each source label (a class folder, an annotation's class) mapped to one of
the project's classes, case-insensitively and through old names of renamed classes. Unknown
labels refuse the import before anything is written, or are added as classes when asked."""

from __future__ import annotations

from collections.abc import Sequence

from facetrove.collector.importer.base import ImportRefused, Item
from facetrove.collector.importer.summary import ImportSummary
from facetrove.collector.store.classes import add_class, class_name_problem
from facetrove.collector.store.db import Database
from facetrove.collector.store.errors import ReviewError
from facetrove.collector.store.imports import class_lookup


def resolve_labels(
    db: Database,
    items: Sequence[Item],
    summary: ImportSummary,
    add_classes: bool,
    user_id: int | None,
) -> dict[str, str]:
    """Source label -> class name; unknown ones are added or refuse the import."""
    lookup = class_lookup(db)
    unknown: dict[str, int] = {}
    for item in items:
        for label in item.labels:
            if label is not None and label.strip().lower() not in lookup:
                unknown[label.strip()] = unknown.get(label.strip(), 0) + 1
    if unknown and not add_classes:
        listed = ", ".join(f"{k[:64]!r} ({n})" for k, n in sorted(unknown.items())[:10])
        if len(unknown) > 10:
            listed += f" and {len(unknown) - 10} more"
        raise ImportRefused(
            f"unknown classes {listed}: add them with --add-classes, or rename the folders "
            f"to known classes ({', '.join(sorted(set(lookup.values())))})"
        )
    bad = [p for p in map(class_name_problem, sorted(unknown)) if p]
    if bad:  # checked before any is added: a refused import adds no class
        raise ImportRefused(f"cannot add {len(bad)} class(es): {bad[0]}")
    for name in sorted(unknown):
        try:
            add_class(db, name, user_id)
        except ReviewError as exc:
            raise ImportRefused(f"cannot add class {name!r}: {exc}") from None
        summary.new_classes.append(name)
    if unknown:
        lookup = class_lookup(db)
    labels = {i.strip(): c for i, c in lookup.items()}
    return {
        label: labels[label.strip().lower()]
        for item in items
        for label in item.labels
        if label is not None
    }
