"""The whole capture pipeline: real video, real detector, real ONNX pre-label; and doubles."""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrove import models, wire
from facetrove.agent.capture.detector import Detection, FixedDetector, MediaPipeDetector
from facetrove.agent.capture.open_source import open_source
from facetrove.agent.capture.pipeline import Pipeline, ReadySample
from facetrove.agent.capture.prelabel import FixedClassifier, OnnxEmotionClassifier
from facetrove.agent.capture.sampler import Seen, dhash, is_near_duplicate
from facetrove.agent.capture.source import ArraySource
from facetrove.agent.config.capture import CropConfig, DetectorConfig, SamplerConfig, SourceConfig
from tests.support.data import expression_file, face_file


def _run(pipeline: Pipeline, spec: str, config: SourceConfig | None = None) -> list[ReadySample]:
    out: list[ReadySample] = []
    with open_source(spec, config) as source:  # type: ignore[attr-defined]
        for frame in source:
            out += pipeline.process(frame)
    return out + pipeline.flush()


def _check_sample(sample: ReadySample) -> np.ndarray:
    """The payload decodes on the collector side; the crop is a real 160x160 image."""
    decoded = wire.decode_sample(sample.encode())
    h = decoded.header
    assert 0 <= h.box.xmin < h.box.xmax <= h.frame_width
    assert 0 <= h.box.ymin < h.box.ymax <= h.frame_height
    crop = cv2.imdecode(np.frombuffer(decoded.crop, np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and crop.shape == (160, 160, 3)
    return crop


def test_real_video_gives_a_few_distinct_good_samples_per_track() -> None:
    """WolfgangLanger_Pexels.mp4: one person talking for 19.7 s (472 frames).

    Default sampling (3 samples per track per 10 s, i.e. a slot every 3.3 s, best of 1 s) with
    the random uncertainty thinning and the heartbeat off so the count is deterministic: 5
    best-of-window samples for the one track instead of 472 near-identical frames, each the
    sharpest of its second, pre-labelled, at least 3 s apart, and no two crops near-duplicates;
    plus one expression_change sample where the person's expression moves (sad -> fear ->
    happy), each with another pre-label than the sample before it.
    """
    sampling = SamplerConfig(prefer_uncertain=False, heartbeat_percent=0)
    with Pipeline.from_config("test-cam", sampler=sampling) as pipe:
        samples = _run(pipe, str(face_file("WolfgangLanger_Pexels.mp4")))
        counters = pipe.counters
    assert counters.frames == 472 and counters.faces >= 450
    per_track = Counter(s.header.track_id for s in samples)
    assert len(per_track) <= 2  # one person; the tracker keeps them as (at most) two tracks
    assert 4 <= max(per_track.values()) <= 9, per_track
    assert counters.accepted == len(samples)
    assert sum(counters.drops.values()) + len(samples) >= counters.faces
    hashes = []
    for s in samples:
        crop = _check_sample(s)
        probs = s.header.prelabel.probs if s.header.prelabel else None
        hashes.append(Seen(dhash(crop, sampling.dedup_hash_side), probs))
        h = s.header
        assert h.prelabel is not None and h.prelabel.label in models.EMOTION_CLASSES
        assert sum(h.prelabel.probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert h.quality.blur >= 100 and h.detector == "mediapipe-short-range"
        assert h.source == "file:WolfgangLanger_Pexels.mp4"
    # no two are near-duplicates: alike in pixels (256-bit dHash) and in pre-label
    assert not any(is_near_duplicate(a, b, sampling) for a, b in itertools.combinations(hashes, 2))
    window = [s for s in samples if s.header.selection == "best_of_window"]
    assert 4 <= len(window) <= 6
    times = sorted(s.header.captured_at for s in window)
    assert all((b - a).total_seconds() >= 3 for a, b in itertools.pairwise(times))
    changes = [i for i, s in enumerate(samples) if s.header.selection == "expression_change"]
    assert changes and changes[0] > 0
    labels = [s.header.prelabel.label for s in samples if s.header.prelabel]
    assert all(labels[i] != labels[i - 1] for i in changes)
    assert {s.header.selection for s in samples} <= {"best_of_window", "expression_change"}


def test_hot_path_prelabels_only_candidates() -> None:
    """single_face.mp4 (72 frames, one face each): the pre-label model runs only for faces that
    are sharper than the held candidate of a track with budget left, not for every face."""
    detector = MediaPipeDetector()
    classifier = FixedClassifier({"happy": 0.5, "sad": 0.5})
    with Pipeline("test-cam", detector, classifier) as pipe:
        samples = _run(pipe, str(face_file("single_face.mp4")))
        counters = pipe.counters
    assert counters.faces == 72 and len(samples) == 1
    assert 1 <= classifier.calls <= 20
    assert counters.drops["track_budget"] > 30


def test_video_without_faces_gives_nothing() -> None:
    """no_face.mp4 (clouds): MediaPipe sees a "face" in blurry cloud lettering on 4 frames at
    score 0.5-0.6; the blur threshold (100) rejects it, so nothing is sent."""
    with Pipeline.from_config("test-cam") as pipe:
        assert _run(pipe, str(face_file("no_face.mp4"))) == []
        c = pipe.counters
        assert c.frames == 95 and c.accepted == 0 and c.faces == sum(c.drops.values())


def test_class_folder_import_keeps_labels(tmp_path: Path) -> None:
    """A folder of class folders: one sample per photo, provided_label = folder name,
    pre-label from the model; a broken file is skipped without stopping the import."""
    for label, code in (("happy", "hao"), ("surprise", "su"), ("angry", "anc")):
        (tmp_path / label).mkdir()
        shutil.copy(expression_file(code), tmp_path / label / f"{code}.jpg")
    (tmp_path / "angry" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with Pipeline.from_config("importer") as pipe:
        samples = _run(pipe, str(tmp_path))
    assert sorted(s.header.provided_label or "" for s in samples) == [
        "angry",
        "happy",
        "surprise",
    ]
    assert len({s.header.track_id for s in samples}) == 3
    for s in samples:
        _check_sample(s)


def test_full_frame_option_and_multi_face_photo() -> None:
    """multi_face.jpg with send_frame: every sample carries a 640-wide frame; boxes stay in
    the original frame's coordinates."""
    with Pipeline.from_config(
        "test-cam", crop=CropConfig(send_frame=True, frame_max_side=640)
    ) as pipe:
        samples = _run(pipe, str(face_file("multi_face.jpg")))
    assert len(samples) >= 3
    for s in samples:
        _check_sample(s)
        assert s.header.frame is not None and s.header.frame.width == 640
        assert (s.header.frame_width, s.header.frame_height) == (1000, 667)


def _doubles(n_frames: int = 120) -> tuple[Pipeline, ArraySource]:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(n_frames)]
    face = Detection((100, 60, 200, 160), 0.95)
    pipe = Pipeline(
        "dbl",
        FixedDetector([[face]]),
        FixedClassifier({"happy": 0.5, "sad": 0.45, "angry": 0.05}),
        sampler=SamplerConfig(best_of_s=0.5, max_per_track=3, track_window_s=3, seed=1),
        start_track_id=41,
    )
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return pipe, ArraySource(images, label="dbl", fps=30, start=start)


def test_pipeline_with_doubles_counts_and_ids() -> None:
    """4 s of one face at 30 fps, 3 samples per 3 s (a slot every 1 s, best of 0.5 s): samples
    at 0.5, 2.0 and 3.5 s; the track id counts from the start id."""
    pipe, source = _doubles()
    samples = [s for f in source for s in pipe.process(f)] + pipe.flush()
    assert len(samples) == 3
    assert {s.header.track_id for s in samples} == {41}
    assert pipe.next_track_id == 42
    c = pipe.counters
    assert (c.frames, c.faces, c.accepted) == (120, 120, 3)
    assert sum(c.drops.values()) == 117
    assert pipe.model_id == "fixed" and pipe.detector_name == "fixed"


def test_apply_config_from_the_collector() -> None:
    """The retained config sets 1 sample per track per 3 s (4 s of video: 2 samples instead of
    3); then an invalid one is refused and changes nothing."""
    pipe, source = _doubles()
    pipe.apply_config(
        wire.AgentConfig(revision=1, sampling=wire.SamplingOverrides(max_per_track=1))
    )
    samples = [s for f in source for s in pipe.process(f)] + pipe.flush()
    assert len(samples) == 2
    bad = wire.AgentConfig(
        revision=2,
        sampling=wire.SamplingOverrides(max_per_track=5),
        quality=wire.QualityOverrides(min_brightness=200, max_brightness=10),
    )
    with pytest.raises(ValueError, match="min_brightness"):
        pipe.apply_config(bad)
    assert pipe.sampler.config.max_per_track == 1


def test_close_closes_detector_and_classifier() -> None:
    det = FixedDetector([[]])
    clf = OnnxEmotionClassifier(models.path(models.EMOTION_ONNX))
    with Pipeline("x", det, clf):
        pass
    assert det.closed


def test_haar_pipeline_without_keypoints() -> None:
    """The Haar fallback through the whole pipeline on single_face.mp4: one good sample, no yaw
    (Haar gives no keypoints), detector named in the header."""
    haar = DetectorConfig(backend="haar")
    keep_all = SamplerConfig(prefer_uncertain=False, heartbeat_percent=0)
    with Pipeline.from_config("test-cam", detector=haar, sampler=keep_all) as pipe:
        samples = _run(pipe, str(face_file("single_face.mp4")))
    # the face turns from happy to neutral: one best-of-window sample, one expression change
    assert [s.header.selection for s in samples] == ["best_of_window", "expression_change"]
    header = samples[0].header
    assert header.detector == "haar-frontalface" and header.quality.yaw is None
    _check_sample(samples[0])
