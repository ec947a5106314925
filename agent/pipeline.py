"""The capture pipeline: frame -> faces -> tracks -> quality -> sampler -> crop -> pre-label.

``Pipeline.process(frame)`` returns the samples that are ready to send (usually none: the
sampler holds a track's candidates for ``best_of_s`` and keeps the sharpest). Call ``flush()``
when the source ends so held candidates are not lost.

(Public shape committed first so the delivery side can build against it; stages follow.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import wire
from agent.sources import Frame


@dataclass(frozen=True)
class ReadySample:
    """A finished sample: the header and the JPEG bytes it describes."""

    header: wire.SampleHeader
    crop: bytes
    frame: bytes | None = None

    def encode(self) -> bytes:
        """The binary wire payload (``wire.encode_sample``)."""
        return wire.encode_sample(self.header, self.crop, self.frame)


@dataclass
class PipelineCounters:
    """Running totals; ``drops`` counts every face that did not become a sample, by reason."""

    frames: int = 0
    faces: int = 0
    accepted: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    fps: float = 0.0


class Pipeline:
    """Turns frames into ready samples. Not thread-safe: one pipeline per source loop.

    Signature (stable; the runner builds against it)::

        Pipeline(device_id, detector, classifier=None, quality=QualityConfig(),
                 sampler=SamplerConfig(), crop=CropConfig(), start_track_id=0)
        Pipeline.from_config(device_id, detector=DetectorConfig(), quality=..., sampler=...,
                             crop=..., prelabel=PrelabelConfig(), start_track_id=0)
        process(frame: Frame) -> list[ReadySample]
        flush() -> list[ReadySample]
        apply_config(cfg: wire.AgentConfig) -> None  # sampling/quality overrides, class targets
        counters: PipelineCounters
        next_track_id: int            # persist it to keep track ids unique across restarts
        detector_name: str
        model_id: str | None
        close() -> None               # closes detector and classifier; context manager too
    """

    def process(self, frame: Frame) -> list[ReadySample]:
        """Run one frame through every stage; return the samples that became ready."""
        raise NotImplementedError

    def flush(self) -> list[ReadySample]:
        """Emit every held candidate (call when the source ends)."""
        raise NotImplementedError
