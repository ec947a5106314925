"""The capture pipeline: frame -> faces -> tracks -> sampler pre-check -> quality -> crop ->
pre-label -> sampler -> ready samples.

``Pipeline.process(frame)`` returns the samples that are ready to send (usually none: the
sampler holds a track's candidates for ``best_of_s`` and keeps the sharpest). Call ``flush()``
when the source ends so held candidates are not lost.

The hot path stays cheap: detection runs on every frame, but pixel work beyond it happens only
for faces the sampler would still take (rate limits and the track's budget are checked first),
and cropping plus pre-labelling only for a face sharper than the one its track already holds.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from facetrove import wire
from facetrove.agent.capture.crop import Cropper, blur_boxes
from facetrove.agent.capture.detector import AutoDetector, FaceDetector, make_detector
from facetrove.agent.capture.prelabel import EmotionClassifier, OnnxEmotionClassifier
from facetrove.agent.capture.quality import QualityGate
from facetrove.agent.capture.sampler import Candidate, Sampler
from facetrove.agent.capture.source import Frame
from facetrove.agent.capture.tracker import IouTracker
from facetrove.agent.closing import Closing
from facetrove.agent.config.capture import (
    CropConfig,
    DetectorConfig,
    PrelabelConfig,
    QualityConfig,
    SamplerConfig,
)


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
    """Running totals; ``drops`` counts every face that did not become a sample, by reason
    (quality-gate rejects and sampler drops)."""

    frames: int = 0
    faces: int = 0
    accepted: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    fps: float = 0.0


class Ready(Protocol):
    """What the pipeline hands over: a sample ready to encode."""

    @property
    def header(self) -> wire.SampleHeader: ...

    def encode(self) -> bytes: ...


class PipelineLike(Protocol):
    """The part of ``Pipeline`` the runner uses (test doubles implement it)."""

    @property
    def detector_name(self) -> str: ...

    @property
    def model_id(self) -> str | None: ...

    @property
    def next_track_id(self) -> int: ...

    @property
    def counters(self) -> PipelineCounters: ...

    @property
    def classifier(self) -> EmotionClassifier | None: ...

    def swap_classifier(self, new: EmotionClassifier) -> None: ...

    def process(self, frame: Frame) -> Sequence[Ready]: ...

    def flush(self) -> Sequence[Ready]: ...

    def apply_config(self, cfg: wire.AgentConfig) -> None: ...

    def close(self) -> None: ...


class Pipeline(Closing):
    """Turns frames into ready samples. Not thread-safe: one pipeline per source loop.

    Args:
        device_id: this device's id, written into every sample header.
        detector: finds faces (closed by ``close()``).
        classifier: pre-labels accepted faces, or None to send samples without a pre-label.
        quality, sampler, crop: the stage configs.
        start_track_id: first track id (persist ``next_track_id`` across restarts).
        rng_seed: overrides ``sampler.seed`` (tests and benchmarks).
    """

    def __init__(
        self,
        device_id: str,
        detector: FaceDetector,
        classifier: EmotionClassifier | None = None,
        quality: QualityConfig | None = None,
        sampler: SamplerConfig | None = None,
        crop: CropConfig | None = None,
        start_track_id: int = 0,
    ) -> None:
        self.device_id = wire.check_device_id(device_id)
        self.detector = detector
        self.classifier = classifier
        self.gate = QualityGate(quality)
        self.sampler = Sampler(sampler)
        self.sampler.prelabelled = classifier is not None
        self.cropper = Cropper(crop)
        self.tracker = IouTracker(start_id=start_track_id)
        self._frames = 0
        self._faces = 0
        self._ticks: deque[float] = deque(maxlen=60)
        self._last_now = 0.0
        self._origin: str | None = None

    @classmethod
    def from_config(
        cls,
        device_id: str,
        detector: DetectorConfig | None = None,
        quality: QualityConfig | None = None,
        sampler: SamplerConfig | None = None,
        crop: CropConfig | None = None,
        prelabel: PrelabelConfig | None = None,
        start_track_id: int = 0,
    ) -> Pipeline:
        """Build the real stages from config sections.

        Raises:
            agent.detect.DetectorError, agent.prelabel.PrelabelError: a model cannot be loaded.
        """
        prelabel = prelabel or PrelabelConfig()
        face_detector = make_detector(detector)
        try:
            classifier = OnnxEmotionClassifier.from_config(prelabel) if prelabel.enabled else None
        except BaseException:
            face_detector.close()
            raise
        return cls(device_id, face_detector, classifier, quality, sampler, crop, start_track_id)

    # -- properties the runner reports -----------------------------------------------------

    @property
    def counters(self) -> PipelineCounters:
        """A snapshot of the running totals."""
        drops = self.gate.rejects + self.sampler.drops
        fps = 0.0
        if len(self._ticks) > 1 and self._ticks[-1] > self._ticks[0]:
            fps = (len(self._ticks) - 1) / (self._ticks[-1] - self._ticks[0])
        return PipelineCounters(
            frames=self._frames,
            faces=self._faces,
            accepted=self.sampler.accepted,
            drops=drops,
            fps=round(fps, 2),
        )

    @property
    def next_track_id(self) -> int:
        """The next track id; persist it so ids stay unique across restarts."""
        return self.tracker.next_id

    @property
    def detector_name(self) -> str:
        return self.detector.name

    @property
    def model_id(self) -> str | None:
        return self.classifier.model_id if self.classifier else None

    def swap_classifier(self, new: EmotionClassifier) -> None:
        """Pre-label with ``new`` from the next frame on and close the previous model."""
        old, self.classifier = self.classifier, new
        self.sampler.prelabelled = True
        if old is not None:
            old.close()

    def apply_config(self, config: wire.AgentConfig) -> None:
        """Apply the collector's retained config: sampling and quality overrides, class
        targets. (Pausing is the runner's business.)

        Raises:
            ValueError: the merged settings are invalid; the previous ones stay in force.
        """
        gate_before, sampler_before = self.gate.config, self.sampler.config
        try:
            self.gate.apply_overrides(config.quality)
            self.sampler.apply_overrides(config.sampling)
            self.sampler.set_class_targets(dict(config.class_targets))
        except ValueError:
            self.gate.config, self.sampler.config = gate_before, sampler_before
            raise

    # -- the work --------------------------------------------------------------------------

    def process(self, frame: Frame) -> list[ReadySample]:
        """Run one frame through every stage; return the samples that became ready."""
        self._frames += 1
        self._ticks.append(time.monotonic())
        now = frame.captured_at.timestamp()
        self._last_now = now
        if frame.origin is not None and frame.origin != self._origin:
            # A file's samples should be the same however often it is run: random choices
            # follow the file unless sampler.seed fixes them.
            self._origin = frame.origin
            if self.sampler.base.seed is None and not frame.still:
                self.sampler.rng.seed(int(frame.origin[:16], 16))
        image = frame.image
        if frame.still and isinstance(self.detector, AutoDetector):
            detections = self.detector.detect_still(image)
        else:
            detections = self.detector.detect(image)
        self._faces += len(detections)
        if frame.still:
            tracked = [(self.tracker.new_id(), d) for d in detections]
            ended: list[int] = []
        else:
            tracked = self.tracker.update(detections)
            ended = self.tracker.ended
        ready: list[Candidate] = []
        for track_id, det in tracked:
            if self.sampler.admit(track_id, now, frame.still) is not None:
                continue
            verdict = self.gate.check(image, det)
            if not verdict.passed or not self.sampler.wants(track_id, verdict.quality.blur):
                continue
            crop = self.cropper.square(image, det.box)
            label = None
            if self.classifier is not None:
                label = self.classifier.classify(self.cropper.inner(crop))
            others = tuple(d.box for _, d in tracked if d is not det)
            cand = Candidate(track_id, frame, det, verdict.quality, crop, label, others=others)
            ready.extend(self.sampler.offer(cand, now))
        ready.extend(self.sampler.due(now, ended))
        return [self._finish(c) for c in ready]

    def flush(self) -> list[ReadySample]:
        """Emit every held candidate (call when the source ends) and end all tracks."""
        self.tracker.reset()
        return [self._finish(c) for c in self.sampler.flush(self._last_now)]

    def _finish(self, cand: Candidate) -> ReadySample:
        frame = cand.frame
        h, w = frame.image.shape[:2]
        crop_jpeg = self.cropper.crop_jpeg(cand.crop)
        frame_jpeg = None
        if self.cropper.config.send_frame:
            image = frame.image
            if self.cropper.config.blur_bystanders and cand.others:
                image = blur_boxes(image, cand.others)
            frame_jpeg = self.cropper.frame_jpeg(image)
        x0, y0, x1, y1 = cand.detection.box
        header = wire.SampleHeader(
            schema_version=wire.SCHEMA_VERSION,
            sample_id=self._sample_id(frame, cand.detection.box),
            device_id=self.device_id,
            captured_at=frame.captured_at,
            source=frame.source,
            frame_width=int(w),
            frame_height=int(h),
            box=wire.Box(xmin=int(x0), ymin=int(y0), xmax=int(x1), ymax=int(y1)),
            detector=self.detector.name,
            detector_score=float(cand.detection.score),
            track_id=int(cand.track_id),
            quality=cand.quality,
            prelabel=cand.prelabel.to_wire() if cand.prelabel else None,
            provided_label=frame.provided_label,
            selection=cand.selection,
            crop=wire.image_part(crop_jpeg),
            frame=wire.image_part(frame_jpeg) if frame_jpeg is not None else None,
        )
        return ReadySample(header, crop_jpeg, frame_jpeg)

    def _sample_id(self, frame: Frame, box: tuple[int, int, int, int]) -> str:
        """A fresh time-ordered id; for a frame of a file, one derived from the file's content,
        the frame's position and the face box (and what shapes the crop), so re-running the
        agent on the same files sends the same ids and the collector stores each sample once."""
        if frame.origin is None:
            return wire.new_sample_id()
        crop = self.cropper.config.model_dump_json()
        key = f"facetrove-sample/1|{self.device_id}|{frame.origin}|{frame.index}|{box}|{crop}"
        return wire.derived_sample_id(key.encode())

    def close(self) -> None:
        """Close the detector and the classifier."""
        self.detector.close()
        if self.classifier is not None:
            self.classifier.close()
