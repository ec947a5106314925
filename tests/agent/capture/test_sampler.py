"""Sampler logic with doubles: best-of window, budgets, near-duplicates, rate limits,
traffic percentage, uncertainty preference, class targets, run-time overrides."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timezone

import numpy as np
import pytest

from facetrove import wire
from facetrove.agent.capture.detector import Detection
from facetrove.agent.capture.prelabel import FixedClassifier, PrelabelResult
from facetrove.agent.capture.sampler import Candidate, Sampler, dhash, hamming
from facetrove.agent.capture.source import Frame
from facetrove.agent.config.capture import SamplerConfig

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
HAPPY = {"happy": 0.9, "sad": 0.05, "angry": 0.05}  # margin 0.85
CERTAIN = {"happy": 1.0, "sad": 0.0, "angry": 0.0}  # margin 1
UNSURE = {"happy": 0.45, "sad": 0.4, "angry": 0.15}  # margin 0.05


def _cfg(**changes: object) -> SamplerConfig:
    """A config without the random heartbeat (these tests count samples exactly)."""
    return SamplerConfig.model_validate({"heartbeat_percent": 0.0, **changes})


def _crop(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def _cand(
    track: int,
    blur: float = 100.0,
    seed: int | None = None,
    probs: dict[str, float] | None = None,
    still: bool = False,
    provided: str | None = None,
) -> Candidate:
    frame = Frame(
        np.zeros((4, 4, 3), np.uint8),
        datetime.fromtimestamp(T0, timezone.utc),
        0,
        "test",
        provided,
        still,
    )
    label: PrelabelResult | None = None
    if probs is not None:
        label = FixedClassifier(probs).classify(frame.image)
    quality = wire.Quality(blur=blur, brightness=100.0, face_px=50)
    crop = _crop(track * 1000 + int(blur) if seed is None else seed)
    return Candidate(track, frame, Detection((0, 0, 1, 1), 0.9), quality, crop, label)


def _run(sampler: Sampler, track: int, t: float, blur: float = 100.0, **kw: object) -> list[int]:
    """One face of ``track`` at time ``t``, through admit/wants/offer/due like the pipeline."""
    now = T0 + t
    out: list[Candidate] = []
    if sampler.admit(track, now) is None and sampler.wants(track, blur):
        out += sampler.offer(_cand(track, blur, **kw), now)  # type: ignore[arg-type]
    out += sampler.due(now)
    return [c.track_id for c in out]


def test_best_of_window_emits_the_sharpest() -> None:
    s = Sampler(_cfg(best_of_s=1.0, prefer_uncertain=False))
    got = []
    for i, blur in enumerate([50, 300, 120, 80]):
        now = T0 + i * 0.2
        assert s.admit(1, now) is None
        if s.wants(1, blur):
            s.offer(_cand(1, blur), now)
    assert s.due(T0 + 0.9) == []
    got = s.due(T0 + 1.0)
    assert [c.quality.blur for c in got] == [300]
    assert s.drops["not_sharpest"] == 3


def test_track_budget_spreads_samples_over_the_window() -> None:
    """One face for 60 s at 10 fps, 2 per 10 s: a slot every 5 s, each filled by the best of
    the next 0.5 s -> 11 samples 5.5 s apart, never more than 2 in any 10 s."""
    s = Sampler(
        _cfg(
            max_per_track=2,
            track_window_s=10,
            best_of_s=0.5,
            prefer_uncertain=False,
            per_minute=1000,
        )
    )
    times = []
    for i in range(600):
        for _ in _run(s, 7, i / 10, blur=100 + i):
            times.append(i / 10)
    assert len(times) == 11
    assert all(b - a >= 5 for a, b in itertools.pairwise(times))
    assert all(sum(t <= u < t + 10 for u in times) <= 2 for t in times)
    # faces past the budget: dropped at once, or pre-labelled (probed) and found steady
    assert s.drops["track_budget"] + s.drops["steady"] > 500


def test_near_duplicates_are_dropped() -> None:
    """The same crop, then the same crop with light noise, on other tracks: both dropped;
    a different crop is kept."""
    s = Sampler(_cfg(best_of_s=0, prefer_uncertain=False, dedup_hamming=6))
    base = _crop(1)
    noisy = np.clip(
        base.astype(int) + np.random.default_rng(2).integers(-3, 4, base.shape), 0, 255
    ).astype(np.uint8)
    assert hamming(dhash(base), dhash(noisy)) <= 6
    kept = []
    for track, crop in ((1, base), (2, base), (3, noisy), (4, _crop(99))):
        cand = _cand(track)
        cand.crop = crop
        kept += s.offer(cand, T0)
    assert [c.track_id for c in kept] == [1, 4]
    assert s.drops["duplicate"] == 2


def test_global_rate_limits_per_minute() -> None:
    """50 distinct faces in 50 s with per_minute=3: 3 samples; 1 more after the minute."""
    s = Sampler(_cfg(best_of_s=0, per_minute=3, prefer_uncertain=False))
    got = [t for i in range(50) for t in _run(s, i, float(i))]
    assert len(got) == 3
    assert s.drops["rate_minute"] == 47
    assert _run(s, 999, 61.0) == [999]


def test_traffic_percentage_is_seeded() -> None:
    def kept(seed: int) -> list[int]:
        s = Sampler(
            _cfg(
                best_of_s=0,
                traffic_percent=25,
                per_minute=10_000,
                per_hour=10_000,
                prefer_uncertain=False,
            ),
            random.Random(seed),
        )
        return [t for i in range(400) for t in _run(s, i, i * 0.01)]

    a = kept(3)
    assert 60 <= len(a) <= 140
    assert a == kept(3)


def test_uncertain_prelabels_are_preferred() -> None:
    """confident_keep=0: confident pre-labels are all dropped, uncertain ones all kept."""
    cfg = _cfg(best_of_s=0, confident_keep=0.0, uncertain_margin=0.3, per_minute=1000)
    s = Sampler(cfg)
    confident = [t for i in range(20) for t in _run(s, i, 0.0, probs=CERTAIN)]
    unsure = [t for i in range(20, 40) for t in _run(s, i, 0.0, probs=UNSURE)]
    assert confident == [] and len(unsure) == 20
    assert s.drops["confident"] == 20
    assert s.keep_probability(0.3) == 1.0
    assert Sampler(_cfg(confident_keep=0.3)).keep_probability(1.0) == pytest.approx(0.3)


def test_class_targets_scale_acceptance() -> None:
    """Targets {sad: 4, happy: 0}: sad always kept, happy never, others about a quarter."""
    cfg = _cfg(best_of_s=0, prefer_uncertain=False, per_minute=10_000, per_hour=10_000)
    s = Sampler(cfg, random.Random(5))
    s.set_class_targets({"sad": 4.0, "happy": 0.0})
    sad = {"sad": 0.9, "happy": 0.1}
    angry = {"angry": 0.9, "happy": 0.1}
    n_sad = len([t for i in range(100) for t in _run(s, i, i * 0.01, probs=sad)])
    n_happy = len([t for i in range(100, 200) for t in _run(s, i, i * 0.01, probs=HAPPY)])
    n_angry = len([t for i in range(200, 600) for t in _run(s, i, i * 0.01, probs=angry)])
    assert (n_sad, n_happy) == (100, 0)
    assert 60 <= n_angry <= 140
    with pytest.raises(ValueError, match=">= 0"):
        s.set_class_targets({"sad": -1})


def test_provided_label_drives_class_targets() -> None:
    s = Sampler(_cfg(best_of_s=0, prefer_uncertain=False))
    s.set_class_targets({"happy": 0.0})
    assert _run(s, 1, 0.0, probs=UNSURE, provided="sad") == [1]
    assert _run(s, 2, 0.0, probs=UNSURE, provided="happy") == []


def test_overrides_apply_and_unset_fields_fall_back() -> None:
    s = Sampler(_cfg(per_minute=30))
    s.apply_overrides(wire.SamplingOverrides(per_minute=2, traffic_percent=50))
    assert (s.config.per_minute, s.config.traffic_percent) == (2, 50)
    s.apply_overrides(wire.SamplingOverrides(max_per_track=1))
    assert (s.config.per_minute, s.config.traffic_percent, s.config.max_per_track) == (30, 100, 1)


def test_stills_skip_rate_limits_but_not_dedup() -> None:
    """An image-folder import: 10 distinct photos with per_minute=1 are all kept;
    the same photo twice is kept once."""
    s = Sampler(_cfg(per_minute=1))
    kept = [c for i in range(10) for c in s.offer(_cand(i, still=True), T0)]
    assert len(kept) == 10
    assert s.offer(_cand(0, still=True), T0) == []
    assert s.drops == {"duplicate": 1}


def test_flush_emits_held_candidates() -> None:
    s = Sampler(_cfg(best_of_s=5, prefer_uncertain=False))
    assert _run(s, 1, 0.0) == [] and _run(s, 2, 0.1) == []
    assert sorted(c.track_id for c in s.flush(T0 + 0.2)) == [1, 2]
    assert s.flush(T0 + 0.3) == []


def test_a_dropped_window_still_spends_the_slot() -> None:
    """traffic_percent=0 on one face for 10 s at 10 fps, 3 per 10 s: 3 windows are decided
    (and dropped), not one attempt every best_of_s, so the pre-label model runs 3 times."""
    s = Sampler(_cfg(traffic_percent=0, max_per_track=3, track_window_s=10))
    got = [t for i in range(100) for t in _run(s, 1, i / 10, blur=100 + i)]
    assert got == []
    assert s.drops["traffic"] == 3


@pytest.mark.parametrize(
    ("key", "reason"),
    [("per_minute", "rate_minute"), ("per_hour", "rate_hour"), ("per_day", "rate_day")],
)
def test_a_zero_rate_limit_sends_nothing(key: str, reason: str) -> None:
    """Tried: a cap of 0 (documented as "0 = send nothing", not "no cap"). Kept: no sample from
    20 distinct tracks, every face counted under that window's drop reason."""
    limits = {"per_minute": 10_000, "per_hour": 10_000, "per_day": 10_000, key: 0}
    s = Sampler(_cfg(best_of_s=0, prefer_uncertain=False, **limits))
    assert [t for i in range(20) for t in _run(s, i, i * 0.5, seed=i)] == []
    assert s.drops[reason] == 20
