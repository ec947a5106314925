"""Config sections of the capture half of the agent: source to pre-labelled sample.

Every field has a description; docs/agent-pipeline.md lists them with their defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from facetrove.config import Section


class SourceConfig(Section):
    """Where frames come from and how fast."""

    spec: str = Field(
        default="0",
        description="camera index ('0'), video file, image or image folder path, "
        "or an rtsp:// / http(s):// stream URL",
    )
    max_fps: float = Field(
        default=0.0,
        ge=0.0,
        description="frame-rate cap in frames per second; 0 = as fast as the source gives frames "
        "(a video file then plays as fast as the pipeline runs)",
    )
    width: int | None = Field(
        default=None,
        ge=16,
        le=8192,
        description="resize frames to this width (keeps aspect if height is unset)",
    )
    height: int | None = Field(
        default=None,
        ge=16,
        le=8192,
        description="resize frames to this height (keeps aspect if width is unset)",
    )
    reconnect_initial_s: float = Field(
        default=1.0, gt=0.0, description="first wait before reopening a dropped camera or stream"
    )
    reconnect_max_s: float = Field(
        default=30.0, gt=0.0, description="the back-off doubles up to this wait between reopens"
    )
    reconnect_attempts: int = Field(
        default=0,
        ge=0,
        description="give up after this many failed reopens in a row; 0 = keep trying forever",
    )
    label_from_folder: bool = Field(
        default=True,
        description="image folders: use the name of an image's class folder as provided_label",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> SourceConfig:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be >= reconnect_initial_s")
        return self


class DetectorConfig(Section):
    """Which face detector runs on every frame."""

    backend: Literal["mediapipe", "haar"] = Field(
        default="mediapipe",
        description="mediapipe (BlazeFace via MediaPipe Tasks) or haar (OpenCV, no MediaPipe)",
    )
    model: Literal["auto", "short_range", "full_range"] = Field(
        default="auto",
        description="MediaPipe model: auto runs short_range and checks with full_range every "
        "auto_check_frames (more often while no face is seen), switching to full_range when it "
        "finds faces short_range missed; short_range for faces within ~2 m (webcams), full_range "
        "for faces up to ~5 m (room and street cameras)",
    )
    auto_check_frames: int = Field(
        default=90,
        ge=1,
        description="auto: run full_range as a check every this many frames while short_range "
        "finds faces (and go back to short_range after this many frames without a face)",
    )
    auto_empty_check_frames: int = Field(
        default=15,
        ge=1,
        description="auto: run full_range as a check every this many frames while short_range "
        "finds no face",
    )
    model_path: Path | None = Field(
        default=None, description="a .tflite file to use instead of the bundled model"
    )
    fallback_to_haar: bool = Field(
        default=True,
        description="use the Haar detector (with a warning) when MediaPipe is not installed or "
        "cannot load (e.g. a missing libEGL/libGLESv2, or an arm64 CPU before ARMv8.2 such as a "
        "Raspberry Pi 4's)",
    )
    min_confidence: float = Field(
        default=0.5, ge=0.0, le=1.0, description="detections scoring lower are ignored"
    )
    min_face_px: int = Field(
        default=32, ge=1, description="faces whose shorter box side is smaller are ignored"
    )


class QualityConfig(Section):
    """Thresholds of the quality gate; a face failing one is dropped and counted by reason."""

    min_blur: float = Field(
        default=100.0,
        ge=0.0,
        description="minimum variance of the Laplacian of the face, measured at 96x96 grey "
        "(so the figure does not depend on face size); higher is sharper",
    )
    min_brightness: float = Field(
        default=40.0, ge=0.0, le=255.0, description="minimum mean grey level of the face"
    )
    max_brightness: float = Field(
        default=220.0, ge=0.0, le=255.0, description="maximum mean grey level of the face"
    )
    min_face_px: int = Field(
        default=48, ge=0, description="minimum shorter side of the face box in frame pixels"
    )
    max_abs_yaw: float = Field(
        default=45.0,
        ge=0.0,
        le=180.0,
        description="maximum absolute yaw in degrees, estimated from the nose and ear keypoints "
        "when the detector gives them (Haar does not: then no pose check)",
    )

    @model_validator(mode="after")
    def _brightness_order(self) -> QualityConfig:
        if self.min_brightness > self.max_brightness:
            raise ValueError("min_brightness must be <= max_brightness")
        return self


class SamplerConfig(Section):
    """Which of the faces that pass the quality gate become samples."""

    max_per_track: int = Field(
        default=3, ge=0, description="at most this many samples per track per track_window_s"
    )
    track_window_s: float = Field(
        default=10.0, gt=0.0, description="the window of the per-track budget, seconds"
    )
    best_of_s: float = Field(
        default=1.0,
        ge=0.0,
        description="hold a track's candidates this long and emit only the sharpest; 0 = emit "
        "the first",
    )
    strategies: list[Literal["heartbeat", "expression_change", "best_of_window"]] = Field(
        default=["heartbeat", "expression_change", "best_of_window"],
        min_length=1,
        description="the sampling strategies, asked in this order; the first that keeps a face "
        "names why (the sample's selection): heartbeat (random, regardless of the other rules), "
        "expression_change (the track's pre-label moved), best_of_window (the sharpest face of "
        "the track's window, within max_per_track)",
    )
    dedup_hash_side: int = Field(
        default=16,
        ge=8,
        le=32,
        description="the near-duplicate hash is a dHash of side x side bits (16: 256 bits, fine "
        "enough to tell expressions of one face apart)",
    )
    dedup_hamming: int = Field(
        default=24,
        ge=-1,
        le=1024,
        description="a crop whose dHash is within this Hamming distance of a recent sample's is "
        "a near-duplicate (if its pre-label is close too); 0 drops exact hash matches only, -1 "
        "drops none (collector import: an imported photo is never a duplicate)",
    )
    dedup_prelabel_distance: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="crops whose pre-label distributions differ by more than this (total "
        "variation, 0-1) are never near-duplicates, however alike they look",
    )
    dedup_memory: int = Field(
        default=512,
        ge=1,
        description="how many recent sample hashes near-duplicates are checked against",
    )
    expression_change_distance: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="a face whose pre-label distribution is at least this far (total variation) "
        "from its track's last sample changed expression and may be sampled again",
    )
    expression_max_per_track: int = Field(
        default=6,
        ge=0,
        description="at most this many expression_change samples per track per track_window_s "
        "(on top of max_per_track)",
    )
    expression_probe_s: float = Field(
        default=0.25,
        gt=0.0,
        description="a track whose budget is spent is pre-labelled at most this often to look "
        "for an expression change",
    )
    heartbeat_percent: float = Field(
        default=0.05,
        ge=0.0,
        le=100.0,
        description="percentage of detected faces drawn at random and kept regardless of the "
        "other rules (not of the global caps): an unbiased slice to measure drift on",
    )
    per_minute: int = Field(
        default=30, ge=0, description="global cap on samples per minute (0 = send nothing)"
    )
    per_hour: int = Field(
        default=600, ge=0, description="global cap on samples per hour (0 = send nothing)"
    )
    per_day: int = Field(
        default=5000, ge=0, description="global cap on samples per day (0 = send nothing)"
    )
    traffic_percent: float = Field(
        default=100.0,
        ge=0.0,
        le=100.0,
        description="keep this random percentage of candidates (100 = all)",
    )
    prefer_uncertain: bool = Field(
        default=True,
        description="keep samples whose pre-label is close to a decision boundary; thin out "
        "confident ones",
    )
    uncertain_margin: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="a top-2 probability margin at or below this is uncertain and always kept",
    )
    confident_keep: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="keep probability of the most confident pre-labels (margin 1.0); it rises "
        "linearly to 1 at uncertain_margin",
    )
    seed: int | None = Field(
        default=None, description="seed of the sampler's random choices (reproducible runs)"
    )


class CropConfig(Section):
    """How a face becomes the JPEG that is sent."""

    size: int = Field(default=160, ge=16, le=1024, description="side of the square crop, pixels")
    margin: float = Field(
        default=0.25,
        ge=0.0,
        le=2.0,
        description="extra border around the face box, as a fraction of its longer side",
    )
    jpeg_quality: int = Field(default=90, ge=1, le=100, description="JPEG quality of the crop")
    send_frame: bool = Field(
        default=False,
        description="also send a downscaled full frame (for detection datasets: frame + box)",
    )
    blur_bystanders: bool = Field(
        default=True,
        description="in a sent full frame, blur every detected face but the sampled one",
    )
    frame_max_side: int = Field(
        default=640, ge=64, le=4096, description="longest side of the downscaled full frame"
    )
    frame_jpeg_quality: int = Field(
        default=80, ge=1, le=100, description="JPEG quality of the full frame"
    )


class PrelabelConfig(Section):
    """The emotion model that pre-labels each sample."""

    enabled: bool = Field(default=True, description="pre-label samples with the ONNX model")
    model_path: Path | None = Field(
        default=None,
        description="ONNX emotion model; default: the shipped models/emotion_mini_xception.onnx",
    )
    model_id: str | None = Field(
        default=None, description="name sent with each pre-label; default: the model file's stem"
    )
    threads: int = Field(
        default=1, ge=1, le=16, description="onnxruntime intra-op threads (1 keeps the agent light)"
    )
