"""Sampling strategies: small pure functions, chosen by name from ``sampler.strategies``.

Each strategy looks at one candidate's ``Situation`` (facts about the face and its track, and
the random draws made for it) and returns a ``Verdict``: the selection name that keeps it, or
the reason it would drop it. The sampler asks the configured strategies in order; the first that
keeps the candidate names why it was kept (``selection`` on the wire). Near-duplicates and the
global rate caps are checked before any strategy (see ``sampler.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from facetrove.agent.capture.prelabel import top2_margin
from facetrove.agent.config.capture import SamplerConfig

Probs = Mapping[str, float]


@dataclass(frozen=True)
class Situation:
    """What a strategy may look at; no state, so every strategy is a pure function.

    Attributes:
        probs: the candidate's pre-label distribution, or None (no classifier).
        label: the provided label if the source gave one, else the pre-label's top class.
        last_probs: the pre-label distribution of the track's last sample or decided window
            (kept or thinned out; None: nothing decided yet).
        budget_left: the track's best-of-window budget has a free slot now.
        changes_left: the track's expression-change budget has room.
        heartbeat: the candidate was drawn for the heartbeat (random, before any other rule).
        draws: three uniform [0, 1) numbers (traffic, uncertainty thinning, class target).
    """

    probs: Probs | None
    label: str | None
    last_probs: Probs | None
    budget_left: bool
    changes_left: bool
    heartbeat: bool = False
    draws: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Verdict:
    """A strategy's answer: ``selection`` when it keeps the candidate, else ``drop`` (or
    neither: the strategy has no opinion)."""

    selection: str | None = None
    drop: str | None = None


Strategy = Callable[[Situation, SamplerConfig, Mapping[str, float]], Verdict]


def distribution_distance(a: Probs, b: Probs) -> float:
    """Total variation distance of two class distributions: 0 same, 1 disjoint."""
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys)


def keep_probability(margin: float, cfg: SamplerConfig) -> float:
    """Uncertainty preference: 1 up to ``uncertain_margin``, then falling linearly to
    ``confident_keep`` at margin 1."""
    if margin <= cfg.uncertain_margin or cfg.uncertain_margin >= 1.0:
        return 1.0
    t = (margin - cfg.uncertain_margin) / (1.0 - cfg.uncertain_margin)
    return 1.0 - t * (1.0 - cfg.confident_keep)


def class_weight(label: str | None, targets: Mapping[str, float]) -> float:
    """Keep probability from the collector's class targets: a class's weight over the largest
    (at least 1), so the most wanted class is always kept and unnamed classes count as 1."""
    if not targets or label is None:
        return 1.0
    return targets.get(label, 1.0) / max(1.0, *targets.values())


def heartbeat(s: Situation, cfg: SamplerConfig, targets: Mapping[str, float]) -> Verdict:
    """Keep the faces drawn at random (``heartbeat_percent``), whatever the other rules say:
    an unbiased slice of what the camera sees, to measure drift on."""
    return Verdict(selection="heartbeat") if s.heartbeat else Verdict()


def expression_change(s: Situation, cfg: SamplerConfig, targets: Mapping[str, float]) -> Verdict:
    """Keep a face whose expression moved: its pre-label distribution is at least
    ``expression_change_distance`` from the track's last sample (or last decided window),
    within the track's own
    expression-change budget. A steady face gets nothing here."""
    if s.probs is None or s.last_probs is None:
        return Verdict()
    if distribution_distance(s.probs, s.last_probs) < cfg.expression_change_distance:
        return Verdict(drop="steady")
    if not s.changes_left:
        return Verdict(drop="change_budget")
    if s.draws[2] >= class_weight(s.label, targets):
        return Verdict(drop="class_target")
    return Verdict(selection="expression_change")


def best_of_window(s: Situation, cfg: SamplerConfig, targets: Mapping[str, float]) -> Verdict:
    """The sharpest face of its track's window, within the track's budget, thinned by the
    traffic percentage, the uncertainty preference and the class targets. Named ``uncertain``
    when its pre-label is close to a decision boundary, ``class_target`` when the collector
    asked for more of its class."""
    if not s.budget_left:
        return Verdict(drop="track_budget")
    traffic, thin, by_class = s.draws
    if cfg.traffic_percent < 100.0 and traffic * 100.0 >= cfg.traffic_percent:
        return Verdict(drop="traffic")
    margin = top2_margin(s.probs) if s.probs else None
    if cfg.prefer_uncertain and margin is not None and thin >= keep_probability(margin, cfg):
        return Verdict(drop="confident")
    weight = class_weight(s.label, targets)
    if by_class >= weight:
        return Verdict(drop="class_target")
    if cfg.prefer_uncertain and margin is not None and margin <= cfg.uncertain_margin:
        return Verdict(selection="uncertain")
    if targets and s.label is not None and targets.get(s.label, 1.0) > 1.0:
        return Verdict(selection="class_target")
    return Verdict(selection="best_of_window")


#: The strategies ``sampler.strategies`` may name, in the registry order.
STRATEGIES: dict[str, Strategy] = {
    "heartbeat": heartbeat,
    "expression_change": expression_change,
    "best_of_window": best_of_window,
}


def decide(
    situation: Situation,
    names: Sequence[str],
    cfg: SamplerConfig,
    targets: Mapping[str, float],
) -> Verdict:
    """Ask the named strategies in order: the first that keeps the candidate wins; otherwise
    the drop reason of the last one that gave a reason (``track_budget`` if none did)."""
    drop = None
    for name in names:
        verdict = STRATEGIES[name](situation, cfg, targets)
        if verdict.selection is not None:
            return verdict
        drop = verdict.drop or drop
    return Verdict(drop=drop or "track_budget")
