"""The sampler: which good faces become samples, and how many.

Per track it holds candidates for ``best_of_s`` and emits the sharpest; a track gets at most
``max_per_track`` samples per ``track_window_s``, spaced evenly over the window. Before emitting
it drops near-duplicates (dHash), applies the global rate limits, the random traffic percentage,
the uncertainty preference and the collector's class targets. Every drop is counted by reason.

Still photos (image folders) are imports a person chose: only the near-duplicate check applies.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass

import cv2
import numpy as np

from facetrove import wire
from facetrove.agent.capture.detector import Detection
from facetrove.agent.capture.prelabel import PrelabelResult
from facetrove.agent.capture.source import Frame
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
    "duplicate",  # near-duplicate of a recent sample (perceptual hash)
    "traffic",  # outside the random traffic percentage
    "confident",  # pre-label far from any decision boundary, thinned out
    "class_target",  # class the collector wants fewer of
)


def dhash(image: np.ndarray) -> int:
    """64-bit difference hash of an image (grey 9x8, one bit per horizontal gradient sign)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


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
    emitted: deque[float] | None = None


class Sampler:
    """Decides which candidates become samples. Times are seconds (``captured_at``)."""

    def __init__(self, config: SamplerConfig | None = None, rng: random.Random | None = None):
        self.base = config or SamplerConfig()
        self.config = self.base
        self.rng = rng or random.Random(self.base.seed)
        self.drops: Counter[str] = Counter()
        self.accepted = 0
        self.class_targets: dict[str, float] = {}
        self._tracks: dict[int, _TrackState] = {}
        self._rates: dict[str, deque[float]] = {reason: deque() for reason in RATE_WINDOWS}
        self._hashes: deque[int] = deque(maxlen=self.base.dedup_memory)

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
            state = self._tracks[track_id] = _TrackState(emitted=deque())
        return state

    def _budget_spent(self, state: _TrackState, now: float) -> bool:
        cfg = self.config
        emitted = state.emitted
        assert emitted is not None
        while emitted and emitted[0] <= now - cfg.track_window_s:
            emitted.popleft()
        return len(emitted) >= cfg.max_per_track or now < state.next_slot

    def admit(self, track_id: int, now: float, still: bool = False) -> str | None:
        """Cheap pre-check before any pixel work: the drop reason, or None to go on.

        A track that holds a candidate is always admitted (a sharper one may replace it).
        """
        if still:
            return None
        state = self._state(track_id)
        if state.held is not None:
            return None
        reason = self._rate_full(now)
        if reason is None and self._budget_spent(state, now):
            reason = "track_budget"
        if reason is not None:
            self.drops[reason] += 1
        return reason

    def wants(self, track_id: int, blur: float) -> bool:
        """Whether a candidate this sharp would be kept (crop and pre-label only if so)."""
        state = self._tracks.get(track_id)
        if state is None or state.held is None or blur > state.held.quality.blur:
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

    def _final(self, cand: Candidate, now: float, still: bool = False) -> bool:
        reason = self._final_reason(cand, now, still)
        if not still:
            # A decided window spends the track's slot even when its candidate is dropped, so a
            # low traffic percentage or a confident pre-label means fewer samples, not more
            # attempts (each attempt costs crops and pre-labels).
            cfg = self.config
            spacing = cfg.track_window_s / cfg.max_per_track if cfg.max_per_track else 0.0
            self._state(cand.track_id).next_slot = now + spacing
        if reason is not None:
            self.drops[reason] += 1
            return False
        self._hashes.append(dhash(cand.crop))
        self.accepted += 1
        if not still:
            for window in self._rates.values():
                window.append(now)
            emitted = self._state(cand.track_id).emitted
            assert emitted is not None
            emitted.append(now)
        return True

    def _final_reason(self, cand: Candidate, now: float, still: bool) -> str | None:
        cfg = self.config
        if self._hashes.maxlen != cfg.dedup_memory:
            self._hashes = deque(self._hashes, maxlen=cfg.dedup_memory)
        code = dhash(cand.crop)
        if any(hamming(code, old) <= cfg.dedup_hamming for old in self._hashes):
            return "duplicate"
        if still:
            return None
        reason = self._rate_full(now)
        if reason is not None:
            return reason
        if self._budget_spent(self._state(cand.track_id), now):
            return "track_budget"
        if cfg.traffic_percent < 100.0 and self.rng.random() * 100.0 >= cfg.traffic_percent:
            return "traffic"
        uncertain = self.keep_probability(cand.prelabel.margin) if cand.prelabel else 1.0
        if cfg.prefer_uncertain and self.rng.random() >= uncertain:
            return "confident"
        if self.class_targets and cand.label is not None:
            top = max(1.0, *self.class_targets.values())
            if self.rng.random() >= self.class_targets.get(cand.label, 1.0) / top:
                return "class_target"
        return None

    def keep_probability(self, margin: float) -> float:
        """Uncertainty preference: 1 up to ``uncertain_margin``, then falling linearly to
        ``confident_keep`` at margin 1."""
        cfg = self.config
        if margin <= cfg.uncertain_margin or cfg.uncertain_margin >= 1.0:
            return 1.0
        t = (margin - cfg.uncertain_margin) / (1.0 - cfg.uncertain_margin)
        return 1.0 - t * (1.0 - cfg.confident_keep)
