"""Who an imported face shows: the subject (person) key, read from the image's path.

A version split with ``group_by: subject`` keeps every face of one subject in one split, so the
test split holds people the model never saw. Two rules (``collector import --subject-from``):

- ``parent``: the nearest folder above the image that is neither its class folder nor a split
  folder (``train``, ``valid``, ``val``, ``test``, ``images``): ``alice/happy/1.jpg`` and
  ``train/alice/happy/1.jpg`` are ``alice``'s.
- ``regex:PATTERN``: the first group of PATTERN, searched in the image's file name (not its
  folders): ``regex:^([A-Z]+)[.]`` makes ``KA.AN1.39.tiff`` ``KA``'s (the JAFFE naming).

An image the rule finds no subject for is skipped (``no-subject``); a rule that finds none at
all refuses the import, so a pattern that matches nothing never becomes one silent group.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from facetrove.collector.importer.base import SPLIT_NAMES, ImportRefused, Item
from facetrove.collector.importer.summary import ImportSummary

MAX_SUBJECT = 128
RULES = ("parent", "regex:PATTERN")
_NOT_SUBJECT_FOLDERS = frozenset({*SPLIT_NAMES, "images"})


class SubjectRuleError(ImportRefused):
    """A ``--subject-from`` value that cannot be used (message for the user)."""


@dataclass(frozen=True)
class SubjectRule:
    """A parsed ``--subject-from`` value."""

    text: str
    pattern: re.Pattern[str] | None = None  # None: the parent-folder rule

    def subject_of(self, item: Item) -> str | None:
        """The subject of one image, or None when the rule finds none."""
        path = PurePosixPath(item.path)
        if self.pattern is not None:
            m = self.pattern.search(path.name)
            found = m.group(1) if m else None
        else:
            found = _parent_subject(path, item.labels)
        return clean_subject(found)


def clean_subject(value: str | None) -> str | None:
    """A subject as stored: stripped, printable, 1 to MAX_SUBJECT characters; else None."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_SUBJECT or not value.isprintable():
        return None
    return value


def _parent_subject(path: PurePosixPath, labels: Sequence[str | None]) -> str | None:
    folders = list(path.parts[:-1])
    class_folders = {label.strip().lower() for label in labels if label}
    if folders and folders[-1].strip().lower() in class_folders:
        folders.pop()  # the class folder the label came from
    for folder in reversed(folders):
        if folder.strip().lower() not in _NOT_SUBJECT_FOLDERS:
            return folder
    return None


def parse_subject_rule(text: str | None) -> SubjectRule | None:
    """``parent`` or ``regex:PATTERN`` (one group: the subject); None for no rule.

    Raises:
        SubjectRuleError: anything else, a pattern that does not compile or has no group.
    """
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text == "parent":
        return SubjectRule(text)
    if not text.startswith("regex:"):
        raise SubjectRuleError(
            f"--subject-from {text!r}: use 'parent' (the folder above the class folder) or "
            "'regex:PATTERN' (the pattern's first group, searched in the file name)"
        )
    source = text.removeprefix("regex:")
    try:
        pattern = re.compile(source)
    except re.error as exc:
        raise SubjectRuleError(
            f"--subject-from {text!r}: not a regular expression: {exc}"
        ) from None
    if pattern.groups < 1:
        raise SubjectRuleError(
            f"--subject-from {text!r}: the pattern has no group; put the subject in "
            "parentheses, e.g. 'regex:^([A-Z]+)[.]' for KA.AN1.39.tiff"
        )
    return SubjectRule(text, pattern)


def subjects_of(rule: SubjectRule, items: Sequence[Item]) -> dict[str, str | None]:
    """The subject of every item's path (None: the rule found none).

    Raises:
        SubjectRuleError: the rule found a subject for none of the images.
    """
    found = {item.path: rule.subject_of(item) for item in items}
    if items and not any(found.values()):
        shown = ", ".join(repr(PurePosixPath(item.path).name) for item in items[:3])
        where = "file name" if rule.pattern is not None else "folder above the class folder"
        raise SubjectRuleError(
            f"--subject-from {rule.text!r} finds no subject in any of the {len(items)} images "
            f"(the {where} of e.g. {shown}); nothing was imported"
        )
    return found


def with_subjects(
    rule_text: str | None, items: list[Item], summary: ImportSummary
) -> tuple[list[Item], dict[str, str | None]]:
    """The items the rule finds a subject for (the others are skipped as ``no-subject``) and
    every item's subject; all items and no subjects without a rule.

    Raises:
        SubjectRuleError: a bad rule, or one that finds no subject at all.
    """
    rule = parse_subject_rule(rule_text)
    if rule is None:
        return items, {}
    subjects = subjects_of(rule, items)
    kept = []
    for item in items:
        if subjects[item.path] is None:
            summary.skip(item.path, "no-subject", f"--subject-from {rule.text}")
        else:
            kept.append(item)
    return kept, subjects
