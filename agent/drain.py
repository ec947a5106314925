"""`facetrove agent drain`: deliver what an outbox holds, without capturing anything.

The runner is the usual one (same broker session, receipts, exit codes); only its source yields
no frame and its pipeline loads no model, so a device whose camera is gone, or a laptop back
online after an outage, can empty its outbox.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from facetrove import wire
from facetrove.agent.capture.pipeline import PipelineCounters, Ready
from facetrove.agent.capture.prelabel import EmotionClassifier
from facetrove.agent.capture.source import Frame
from facetrove.agent.config import AgentConfig


class NoCapture:
    """A source with no frames."""

    label = "drain"

    def __iter__(self) -> Iterator[Frame]:
        return iter(())

    def close(self) -> None:
        """Nothing to release."""


class NoPipeline:
    """A pipeline that loads nothing and never makes a sample (``PipelineLike``)."""

    detector_name = "none"
    model_id = None
    classifier: EmotionClassifier | None = None

    def __init__(self, next_track_id: int) -> None:
        self.next_track_id = next_track_id  # kept as it was for the next capture run
        self.counters = PipelineCounters()

    def swap_classifier(self, new: EmotionClassifier) -> None:
        """A model announced while draining is fetched but not used here."""
        new.close()

    def process(self, frame: Frame) -> Sequence[Ready]:
        return ()

    def flush(self) -> Sequence[Ready]:
        return ()

    def apply_config(self, cfg: wire.AgentConfig) -> None:
        """Sampling settings do not matter without capture."""

    def close(self) -> None:
        """Nothing to close."""


def no_capture(config: AgentConfig) -> NoCapture:
    """Source factory of a drain run."""
    return NoCapture()


def no_pipeline(config: AgentConfig, start_track_id: int) -> NoPipeline:
    """Pipeline factory of a drain run."""
    return NoPipeline(start_track_id)
