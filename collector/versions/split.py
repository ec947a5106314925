"""Train/valid/test split: stratified by class, grouped so that a group never straddles splits.

A group is every sample of one track (or one device, or one subject: the person an import
recorded), joined with every sample whose crop bytes are identical, so near-identical frames of
one person never sit in both train and test; by subject, no person does. Groups are
assigned class by class, largest first, to the split furthest below its share of that class plus
its share of everything placed so far; the order among equal-sized groups comes from a seeded
shuffle, so the same seed gives the same split. By subject, people are drawn in a seeded order
instead (see ``_by_subject``), so the seed chooses who is held out.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from facetrove.collector.versions.recipe import SPLITS, SplitSpec

#: subjects named per split in the leakage report (all are counted)
SUBJECTS_NAMED = 200


@dataclass(frozen=True)
class SplitSample:
    """What the split needs to know about one sample."""

    id: str
    label: str
    device_id: str
    track_id: int | None
    crop_sha256: str
    frame_sha256: str | None = None
    subject: str | None = None  # the person (collector import --subject-from)


@dataclass
class SplitResult:
    """The split of every sample id plus a leakage report for the version card."""

    assignment: dict[str, str]
    leakage: dict[str, Any] = field(default_factory=dict)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class SplitError(ValueError):
    """Samples that cannot be split as the recipe asks (message for the user)."""


def _group_keys(s: SplitSample, group_by: str) -> list[tuple[str, ...]]:
    if group_by == "device":
        return [("device", s.device_id)]
    keys: list[tuple[str, ...]] = []
    if group_by == "subject" and s.subject:
        keys.append(("subject", s.subject))
    # by subject, a sample without one (an agent's) is kept with its track
    if group_by in ("track", "subject") and s.track_id is not None:
        keys.append(("track", s.device_id, str(s.track_id)))
    return keys


def check_subjects(samples: Sequence[SplitSample], spec: SplitSpec) -> None:
    """``group_by: subject`` needs a subject for every split with a share.

    Raises:
        SplitError: none of the samples has a subject, or fewer subjects than such splits.
    """
    if spec.group_by != "subject":
        return
    subjects = sorted({s.subject for s in samples if s.subject})
    wanted = [name for name, ratio in spec.ratios().items() if ratio > 0]
    if not subjects:
        raise SplitError(
            f"split.group_by: subject, but none of the {len(samples)} samples has a subject:"
            " import them with --subject-from (docs/import.md), or group by track"
        )
    if len(subjects) < len(wanted):
        raise SplitError(
            f"split.group_by: subject needs a subject for each split with a share"
            f" ({', '.join(wanted)}: {len(wanted)}); the samples have {len(subjects)}"
            f" ({', '.join(subjects)}): add people, or give a split a share of 0"
        )


def build_groups(samples: Sequence[SplitSample], group_by: str) -> list[list[int]]:
    """Indices of ``samples`` grouped by track/device/subject, identical crop bytes and shared
    frames."""
    uf = _UnionFind(len(samples))
    first: dict[tuple[str, ...], int] = {}
    for i, s in enumerate(samples):
        keys: list[tuple[str, ...]] = [("crop", s.crop_sha256)]
        if s.frame_sha256:  # faces cut from one frame end up in one detection image
            keys.append(("frame", s.frame_sha256))
        keys += _group_keys(s, group_by)
        for k in keys:
            if k in first:
                uf.union(first[k], i)
            else:
                first[k] = i
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(samples)):
        groups[uf.find(i)].append(i)
    return [groups[root] for root in sorted(groups)]


def split_samples(
    samples: Sequence[SplitSample], spec: SplitSpec, seed: int, classes: Sequence[str]
) -> SplitResult:
    """Assign every sample to train/valid/test; see the module docstring for how."""
    ordered = sorted(samples, key=lambda s: s.id)
    class_rank = {c: i for i, c in enumerate(classes)}
    groups = build_groups(ordered, spec.group_by)
    ratios = spec.ratios()
    if spec.group_by == "subject":
        people = _by_subject(ordered, groups, ratios, seed)
        return SplitResult(people, leakage_report(ordered, people, groups))

    by_class: dict[str, list[list[int]]] = defaultdict(list)
    for g in groups:
        counts = Counter(ordered[i].label for i in g)
        dominant = min(counts, key=lambda c: (-counts[c], class_rank.get(c, len(class_rank)), c))
        by_class[dominant].append(g)

    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    # Each group goes where this class and the placed total are furthest below their shares:
    # with only a few groups per class, the class alone would never reach the small splits.
    have_all = dict.fromkeys(SPLITS, 0)
    for label in sorted(by_class, key=lambda c: (class_rank.get(c, len(class_rank)), c)):
        class_groups = by_class[label]
        rng.shuffle(class_groups)
        class_groups.sort(key=len, reverse=True)  # stable: equal sizes keep the shuffled order
        have = dict.fromkeys(SPLITS, 0)

        for g in class_groups:
            split = max(
                (s for s in SPLITS if ratios[s] > 0),
                key=lambda s: (
                    _shortfall(s, ratios, have) + _shortfall(s, ratios, have_all),
                    ratios[s],
                    -SPLITS.index(s),
                ),
            )
            have[split] += len(g)
            have_all[split] += len(g)
            for i in g:
                assignment[ordered[i].id] = split
    return SplitResult(assignment, leakage_report(ordered, assignment, groups))


def _by_subject(
    samples: Sequence[SplitSample], groups: list[list[int]], ratios: dict[str, float], seed: int
) -> dict[str, str]:
    """People in a seeded random order; each goes to the split furthest below its share of the
    faces, a split with a share and nobody yet first. Not stratified by class: a person is one
    group holding several classes (a posed set has every class per person), and with a few
    people of unequal sizes the class-by-class order put the same ones in the same splits
    whatever the seed, and could leave the test split empty."""
    order = list(groups)
    random.Random(seed).shuffle(order)
    have = dict.fromkeys(SPLITS, 0)
    people = dict.fromkeys(SPLITS, 0)
    assignment: dict[str, str] = {}
    for g in order:
        split = max(
            (s for s in SPLITS if ratios[s] > 0),
            key=lambda s: (
                people[s] == 0,
                _shortfall(s, ratios, have),
                ratios[s],
                -SPLITS.index(s),
            ),
        )
        have[split] += len(g)
        people[split] += 1
        for i in g:
            assignment[samples[i].id] = split
    return assignment


def _shortfall(split: str, ratios: dict[str, float], have: dict[str, int]) -> float:
    """How far ``split`` is below its share, as a fraction of what has been placed so far."""
    placed = sum(have.values())
    if placed == 0:
        return ratios[split]
    return ratios[split] - have[split] / placed


def leakage_report(
    samples: Sequence[SplitSample], assignment: dict[str, str], groups: list[list[int]]
) -> dict[str, Any]:
    """What could leak between splits, measured on the final assignment (not assumed)."""

    def straddling(key_of: Any) -> list[str]:
        splits_of: dict[str, set[str]] = defaultdict(set)
        for s in samples:
            key = key_of(s)
            if key is not None:
                splits_of[key].add(assignment[s.id])
        return sorted(k for k, v in splits_of.items() if len(v) > 1)

    tracks = straddling(
        lambda s: None if s.track_id is None else f"{s.device_id}/track {s.track_id}"
    )
    crops = straddling(lambda s: s.crop_sha256)
    devices = straddling(lambda s: s.device_id)
    subjects = straddling(lambda s: s.subject)
    per_split: dict[str, set[str]] = {split: set() for split in SPLITS}
    for s in samples:
        if s.subject:
            per_split[assignment[s.id]].add(s.subject)
    return {
        "groups": len(groups),
        "largest_group": max((len(g) for g in groups), default=0),
        "tracks_straddling_splits": len(tracks),
        "tracks_straddling_examples": tracks[:10],
        "identical_images_across_splits": len(crops),
        "devices_in_several_splits": len(devices),
        "samples_without_track": sum(1 for s in samples if s.track_id is None),
        "subjects": len({s.subject for s in samples if s.subject}),
        "subjects_straddling_splits": len(subjects),
        "subjects_straddling_examples": subjects[:10],
        "subjects_per_split": {
            split: {"count": len(names), "names": sorted(names)[:SUBJECTS_NAMED]}
            for split, names in per_split.items()
        },
        "samples_without_subject": sum(1 for s in samples if not s.subject),
    }
