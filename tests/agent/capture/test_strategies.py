"""The sampling strategies as pure functions, and the sampler's heartbeat and expression rules
with doubles (the real-face cases are in test_expression_sampling.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from facetrove import wire
from facetrove.agent.capture.detector import Detection
from facetrove.agent.capture.prelabel import FixedClassifier
from facetrove.agent.capture.sampler import Candidate, Sampler, Seen, is_near_duplicate
from facetrove.agent.capture.source import Frame
from facetrove.agent.capture.strategies import (
    STRATEGIES,
    Situation,
    decide,
    distribution_distance,
)
from facetrove.agent.config.capture import SamplerConfig

SAD = {"sad": 0.9, "happy": 0.05, "neutral": 0.05}
HAPPY = {"sad": 0.05, "happy": 0.9, "neutral": 0.05}
CFG = SamplerConfig(prefer_uncertain=False)
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


def _situation(**kw: object) -> Situation:
    base: dict[str, object] = {
        "probs": SAD, "label": "sad", "last_probs": SAD, "budget_left": True,
        "changes_left": True,
    }  # fmt: skip
    return Situation(**{**base, **kw})  # type: ignore[arg-type]


def test_distribution_distance() -> None:
    assert distribution_distance(SAD, SAD) == 0.0
    assert distribution_distance(SAD, HAPPY) == pytest.approx(0.85)
    assert distribution_distance({"a": 1.0}, {"b": 1.0}) == 1.0


@pytest.mark.parametrize(
    ("changes", "want"),
    [
        ({}, "best_of_window"),
        ({"budget_left": False}, "track_budget"),
        ({"budget_left": False, "probs": HAPPY, "label": "happy"}, "expression_change"),
        ({"budget_left": False, "probs": HAPPY, "changes_left": False}, "track_budget"),
        ({"budget_left": False, "heartbeat": True}, "heartbeat"),
        ({"budget_left": False, "last_probs": None}, "track_budget"),
        ({"probs": {"sad": 0.7, "happy": 0.25, "neutral": 0.05}}, "best_of_window"),
    ],
)
def test_decide_table(changes: dict[str, object], want: str) -> None:
    v = decide(_situation(**changes), list(STRATEGIES), CFG, {})
    assert (v.selection or v.drop) == want


def test_uncertain_and_class_target_names() -> None:
    cfg = SamplerConfig(prefer_uncertain=True)
    unsure = _situation(probs={"sad": 0.5, "happy": 0.45, "neutral": 0.05})
    assert decide(unsure, ["best_of_window"], cfg, {}).selection == "uncertain"
    wanted = decide(_situation(), ["best_of_window"], CFG, {"sad": 3.0})
    assert wanted.selection == "class_target"
    # class weight 0: none of it, from either strategy
    none = _situation(budget_left=False, probs=HAPPY, label="happy", draws=(0.0, 0.0, 0.5))
    assert decide(none, ["expression_change"], CFG, {"happy": 0.0}).drop == "class_target"


def test_strategies_follow_the_configured_order_and_names() -> None:
    only_window = SamplerConfig(strategies=["best_of_window"])
    s = _situation(budget_left=False, probs=HAPPY, heartbeat=True)
    assert decide(s, only_window.strategies, only_window, {}).drop == "track_budget"
    with pytest.raises(ValueError, match="strategies"):
        SamplerConfig.model_validate({"strategies": ["random"]})
    with pytest.raises(ValueError, match="strategies"):
        SamplerConfig.model_validate({"strategies": []})


def test_near_duplicate_needs_pixels_and_expression() -> None:
    cfg = SamplerConfig()
    assert is_near_duplicate(Seen(0b1011, SAD), Seen(0b1010, SAD), cfg)
    assert not is_near_duplicate(Seen(0b1011, SAD), Seen(0b1010, HAPPY), cfg)
    assert is_near_duplicate(Seen(0b1011, None), Seen(0b1010, HAPPY), cfg)
    far = (1 << 200) - 1
    assert not is_near_duplicate(Seen(far, SAD), Seen(0, SAD), cfg)
    assert not is_near_duplicate(Seen(5, SAD), Seen(5, SAD), SamplerConfig(dedup_hamming=-1))


def _cand(track: int, probs: dict[str, float], seed: int = 1) -> Candidate:
    frame = Frame(np.zeros((4, 4, 3), np.uint8), datetime.fromtimestamp(T0, timezone.utc), 0, "t")
    crop = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    label = FixedClassifier(probs).classify(frame.image)
    quality = wire.Quality(blur=100.0, brightness=100.0, face_px=50)
    return Candidate(track, frame, Detection((0, 0, 1, 1), 0.9), quality, crop, label)


def _face(s: Sampler, track: int, t: float, probs: dict[str, float]) -> list[Candidate]:
    now = T0 + t
    out: list[Candidate] = []
    if s.admit(track, now) is None and s.wants(track, 100.0):
        out += s.offer(_cand(track, probs), now)
    return out + s.due(now)


def test_heartbeat_keeps_random_faces_regardless_of_budget_and_duplicates() -> None:
    """One steady face at 10 fps for 100 s, the same crop every time: without the heartbeat the
    budget and the duplicate check keep almost nothing; with 5% every sample beyond that is a
    heartbeat, about 5% of the faces."""

    def run(percent: float) -> list[Candidate]:
        s = Sampler(SamplerConfig(heartbeat_percent=percent, per_minute=1000, seed=3,
                                  prefer_uncertain=False))  # fmt: skip
        return [c for i in range(1000) for c in _face(s, 1, i / 10, SAD)]

    assert len(run(0.0)) == 1  # the rest are duplicates of the first
    kept = run(5.0)
    beats = [c for c in kept if c.selection == "heartbeat"]
    assert len(kept) - len(beats) <= 1  # the first window's, unless a heartbeat came first
    assert 25 <= len(beats) <= 80


def test_heartbeat_still_obeys_the_global_caps() -> None:
    s = Sampler(SamplerConfig(heartbeat_percent=100.0, per_minute=5, prefer_uncertain=False))
    kept = [c for i in range(200) for c in _face(s, 1, i / 10, SAD)]
    assert len(kept) == 5
