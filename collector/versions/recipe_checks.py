"""The recipe checks that need the store (classes, import tags), run on the recipe text as
written so that they are reported together with the recipe's own problems, in one answer."""

from __future__ import annotations

import yaml

from facetrove.collector.store.classes import class_names
from facetrove.collector.store.db import Database
from facetrove.collector.store.imports import tag_counts
from facetrove.collector.store.samples import selection_counts
from facetrove.wire import SELECTIONS


def raw_lists(text: str) -> dict[str, list[str]]:
    """``classes`` and ``tags`` of recipe text as written, when they are lists of strings."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        key: [str(v) for v in data[key]]
        for key in ("classes", "tags", "selection")
        if isinstance(data.get(key), list)
    }


def store_problems(db: Database, lists: dict[str, list[str]]) -> list[str]:
    """Recipe classes, tags and selection names the store does not know, one line each."""
    problems = []
    if "classes" in lists:
        known = class_names(db)
        unknown = [c for c in lists["classes"] if c not in known]
        if unknown:
            problems.append(
                f"classes: unknown class {', '.join(map(repr, unknown))}"
                f" (known: {', '.join(known)})"
            )
    if "tags" in lists:
        known = [t for t, _ in tag_counts(db)]
        unknown = [t for t in lists["tags"] if t not in known]
        if unknown:
            problems.append(
                f"tags: unknown tag {', '.join(map(repr, unknown))}"
                f" (known: {', '.join(map(repr, known)) or 'none: no import was tagged'})"
            )
    if "selection" in lists:
        known_sel = set(SELECTIONS) | {s for s, _ in selection_counts(db)}
        odd = [s for s in lists["selection"] if s not in known_sel]
        if odd:
            problems.append(
                f"selection: unknown name {', '.join(map(repr, odd))}"
                f" (known: {', '.join(SELECTIONS)})"
            )
    return problems
