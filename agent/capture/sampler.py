"""The sampler: which good faces become samples, how many, and why (``selection``).

Per track it holds candidates for ``best_of_s`` and emits the sharpest; a track gets at most
``max_per_track`` samples per ``track_window_s``, spaced evenly over the window. A track whose
budget is spent is still probed every ``expression_probe_s``: when its pre-label moved away from
its last sample, it yields an ``expression_change`` sample under its own cap, while a steady face
stays thin. A few faces drawn at random (``heartbeat_percent``) are kept whatever the other rules
say. The rules are the named strategies of ``strategies.py``, asked in the configured order.

Before any strategy: the global rate caps, and near-duplicates (a ``dedup_hash_side``-square
dHash close to a recent sample's *and* a pre-label distribution close to it: two expressions of
one face in one light are not duplicates). Every drop is counted by reason.

Still photos (image folders) are imports a person chose: only the near-duplicate check applies.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from facetrove import wire
from facetrove.agent.capture.detector import Detection
from facetrove.agent.capture.prelabel import PrelabelResult
from facetrove.agent.capture.source import Frame
from facetrove.agent.capture.strategies import (
    Probs,
    Situation,
    decide,
    distribution_distance,
)
from facetrove.agent.capture.strategies import keep_probability as _keep_probability
from facetrove.agent.config.capture import SamplerConfig
from facetrove.agent.config.remote import check_class_targets, overridden

#: Global rate windows: reason -> (config field, seconds).
RATE_WINDOWS = {
    "rate_minute": ("per_minute", 60.0),
    "rate_hour": ("per_hour", 3600.0),
    "rate_day": ("per_day", 86400.0),
}

#: Every reason the sampler drops a candidate for.
REASONS = (
    *RATE_WINDOWS,
    "track_budget",  # the track used its samples for this window (or waits for its next slot)
    "not_sharpest",  # a sharper candidate of the same track was kept instead
    "duplicate",  # near-duplicate of a recent sample (perceptual hash and pre-label)
    "steady",  # the track's budget is spent and its expression did not change
    "change_budget",  # the track used its expression_change samples for this window
    "traffic",  # outside the random traffic percentage
    "confident",  # pre-label far from any decision boundary, thinned out
    "class_target",  # class the collector wants fewer of
)


def dhash(image: np.ndarray, side: int = 8) -> int:
    """Difference hash of ``side`` x ``side`` bits (grey (side+1) x side, one bit per
    horizontal gradient sign); side 8 is the classic 64-bit dHash."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray, (side + 1, side), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


@dataclass(frozen=True)
class Seen:
    """What the near-duplicate check remembers of a sample: its hash and pre-label."""

    code: int
    probs: Probs | None


def is_near_duplicate(a: Seen, b: Seen, cfg: SamplerConfig) -> bool:
    """Alike in pixels (dHash within ``dedup_hamming``) and in expression (pre-labels within
    ``dedup_prelabel_distance``; unknown pre-labels count as alike)."""
    if hamming(a.code, b.code) > cfg.dedup_hamming:
        return False
    if a.probs is None or b.probs is None:
        return True
    return distribution_distance(a.probs, b.probs) <= cfg.dedup_prelabel_distance


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return bin(a ^ b).count("1")


@dataclass
class Candidate:
    """A face that passed the quality gate, cropped and (maybe) pre-labelled."""

    track_id: int
    frame: Frame
    detection: Detection
    quality: wire.Quality
    crop: np.ndarray
    prelabel: PrelabelResult | None = None
    selection: str | None = None  # why it was kept, set when the sampler accepts it
    others: tuple[tuple[int, int, int, int], ...] = ()  # the frame's other face boxes

    @property
    def probs(self) -> Probs | None:
        """The pre-label distribution, or None."""
        return self.prelabel.probs if self.prelabel else None

    @property
    def label(self) -> str | None:
        """The provided label if the source gave one, else the pre-label."""
        if self.frame.provided_label:
            return self.frame.provided_label
        return self.prelabel.label if self.prelabel else None


@dataclass
class _TrackState:
    held: Candidate | None = None
    held_since: float = 0.0
    next_slot: float = float("-inf")
    emitted: deque[float] = field(default_factory=deque)  # best-of-window samples
    changes: deque[float] = field(default_factory=deque)  # expression_change samples
    last_probs: Probs | None = None  # pre-label of the track's last decided window or sample
    next_probe: float = float("-inf")
    heartbeat: bool = False  # the next face that passes the gate is a heartbeat sample


class Sampler:
    """Decides which candidates become samples. Times are seconds (``captured_at``)."""

    def __init__(self, config: SamplerConfig | None = None, rng: random.Random | None = None):
        self.base = config or SamplerConfig()
        self.config = self.base
        self.rng = rng or random.Random(self.base.seed)
        self.drops: Counter[str] = Counter()
        self.accepted = 0
        self.class_targets: dict[str, float] = {}
        #: Whether candidates carry pre-labels (the pipeline has a classifier): without them an
        #: expression change cannot be seen, so tracks whose budget is spent are not probed.
        self.prelabelled = True
        self._tracks: dict[int, _TrackState] = {}
        self._rates: dict[str, deque[float]] = {reason: deque() for reason in RATE_WINDOWS}
        self._seen: deque[Seen] = deque(maxlen=self.base.dedup_memory)

    # -- run-time changes from the collector -------------------------------------------------

    def apply_overrides(self, overrides: wire.SamplingOverrides) -> None:
        """Apply the collector's sampling settings; unset fields keep the local values."""
        self.config = overridden(self.base, overrides)

    def set_class_targets(self, targets: dict[str, float]) -> None:
        """Relative want per class (1 = as is, >1 more, <1 fewer, 0 none).

        A class's keep probability is its weight over the largest weight (at least 1), so the
        most wanted class is always kept and unnamed classes count as 1.
        """
        check_class_targets(targets)
        self.class_targets = dict(targets)

    # -- the hot path ----------------------------------------------------------------------

    def _rate_full(self, now: float) -> str | None:
        for reason, (key, seconds) in RATE_WINDOWS.items():
            window = self._rates[reason]
            while window and window[0] <= now - seconds:
                window.popleft()
            if len(window) >= getattr(self.config, key):
                return reason
        return None

    def _state(self, track_id: int) -> _TrackState:
        state = self._tracks.get(track_id)
        if state is None:
            state = self._tracks[track_id] = _TrackState()
        return state

    def _budget_spent(self, state: _TrackState, now: float) -> bool:
        cfg = self.config
        _expire(state.emitted, now - cfg.track_window_s)
        return len(state.emitted) >= cfg.max_per_track or now < state.next_slot

    def _changes_left(self, state: _TrackState, now: float) -> bool:
        cfg = self.config
        if "expression_change" not in cfg.strategies:
            return False
        _expire(state.changes, now - cfg.track_window_s)
        return len(state.changes) < cfg.expression_max_per_track

    def admit(self, track_id: int, now: float, still: bool = False) -> str | None:
        """Cheap pre-check before any pixel work: the drop reason, or None to go on.

        A track that holds a candidate is always admitted (a sharper one may replace it).
        """
        if still:
            return None
        state = self._state(track_id)
        cfg = self.config
        if (
            not state.heartbeat
            and "heartbeat" in cfg.strategies
            and cfg.heartbeat_percent > 0.0
            and self.rng.random() * 100.0 < cfg.heartbeat_percent
        ):
            state.heartbeat = True
        if state.held is not None:
            return None
        reason = self._rate_full(now)
        if reason is None and not state.heartbeat and self._budget_spent(state, now):
            reason = "track_budget"
            if self.prelabelled and now >= state.next_probe and self._changes_left(state, now):
                # Probe: pre-label this face to see whether the expression changed.
                state.next_probe = now + cfg.expression_probe_s
                reason = None
        if reason is not None:
            self.drops[reason] += 1
        return reason

    def wants(self, track_id: int, blur: float) -> bool:
        """Whether a candidate this sharp would be kept (crop and pre-label only if so)."""
        state = self._tracks.get(track_id)
        if state is None or state.held is None or state.heartbeat:
            return True
        if blur > state.held.quality.blur:
            return True
        self.drops["not_sharpest"] += 1
        return False

    def offer(self, candidate: Candidate, now: float) -> list[Candidate]:
        """Hold a candidate as its track's best; stills are decided at once.

        Returns the candidates accepted now (stills only; others come from ``due``).
        """
        if candidate.frame.still:
            return [candidate] if self._final(candidate, now, still=True) else []
        state = self._state(candidate.track_id)
        if state.heartbeat:
            state.heartbeat = False
            return [candidate] if self._final(candidate, now, heartbeat=True) else []
        if state.held is None and self._budget_spent(state, now):
            # A probe: hold it only if the expression moved (checked again when it is due).
            moved = (
                candidate.probs is not None
                and state.last_probs is not None
                and distribution_distance(candidate.probs, state.last_probs)
                >= self.config.expression_change_distance
            )
            if not moved:
                self.drops["steady"] += 1
                return []
        if state.held is None:
            state.held_since = now
        elif candidate.quality.blur <= state.held.quality.blur:
            self.drops["not_sharpest"] += 1
            return []
        else:
            self.drops["not_sharpest"] += 1  # the one it replaces
        state.held = candidate
        if self.config.best_of_s <= 0:
            return self.due(now)
        return []

    def due(self, now: float, ended: list[int] | tuple[int, ...] = ()) -> list[Candidate]:
        """Candidates whose best-of window closed (or whose track ended), after final checks."""
        out = []
        gone = set(ended)
        for track_id, state in list(self._tracks.items()):
            held = state.held
            if held is not None and (
                track_id in gone or now - state.held_since >= self.config.best_of_s
            ):
                state.held = None
                if self._final(held, now):
                    out.append(held)
            if track_id in gone and state.held is None:
                del self._tracks[track_id]
        return out

    def flush(self, now: float) -> list[Candidate]:
        """Decide every held candidate now (the source ended)."""
        return self.due(now, ended=list(self._tracks))

    def _final(
        self, cand: Candidate, now: float, still: bool = False, heartbeat: bool = False
    ) -> bool:
        cfg = self.config
        if self._seen.maxlen != cfg.dedup_memory:
            self._seen = deque(self._seen, maxlen=cfg.dedup_memory)
        seen = Seen(dhash(cand.crop, cfg.dedup_hash_side), cand.probs)
        state = None if still else self._state(cand.track_id)
        selection, reason = self._select(cand, seen, now, state, heartbeat)
        by_window = selection not in ("heartbeat", "expression_change") and reason not in (
            "steady",
            "change_budget",
        )
        if state is not None and by_window and not self._budget_spent(state, now):
            # A decided window spends the track's slot even when its candidate is
            # dropped, so a low traffic percentage or a confident pre-label means fewer
            # samples, not more attempts (each attempt costs crops and pre-labels).
            spacing = cfg.track_window_s / cfg.max_per_track if cfg.max_per_track else 0.0
            state.next_slot = now + spacing
        if state is not None and by_window and reason not in RATE_WINDOWS:
            # The expression this window showed is the reference for the next change, kept or
            # thinned out: a change is a change from what the track last looked like.
            state.last_probs = cand.probs
        if selection is None:
            self.drops[reason or "track_budget"] += 1
            return False
        cand.selection = selection
        self._seen.append(seen)
        self.accepted += 1
        if state is not None:
            for window in self._rates.values():
                window.append(now)
            state.last_probs = cand.probs
            if selection == "expression_change":
                state.changes.append(now)
            elif selection != "heartbeat":
                state.emitted.append(now)
        return True

    def _select(
        self,
        cand: Candidate,
        seen: Seen,
        now: float,
        state: _TrackState | None,
        heartbeat: bool,
    ) -> tuple[str | None, str | None]:
        """(selection, None) to keep the candidate, (None, drop reason) otherwise."""
        cfg = self.config
        if state is not None:
            reason = self._rate_full(now)
            if reason is not None:
                return None, reason
        if not heartbeat and any(is_near_duplicate(seen, old, cfg) for old in self._seen):
            return None, "duplicate"
        if state is None:
            return "still", None
        situation = Situation(
            probs=cand.probs,
            label=cand.label,
            last_probs=state.last_probs,
            budget_left=not self._budget_spent(state, now),
            changes_left=self._changes_left(state, now),
            heartbeat=heartbeat,
            draws=(self.rng.random(), self.rng.random(), self.rng.random()),
        )
        verdict = decide(situation, cfg.strategies, cfg, self.class_targets)
        return verdict.selection, verdict.drop

    def keep_probability(self, margin: float) -> float:
        """Uncertainty preference: 1 up to ``uncertain_margin``, then falling linearly to
        ``confident_keep`` at margin 1."""
        return _keep_probability(margin, self.config)


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()
