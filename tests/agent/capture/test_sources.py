"""Sources: real video files, image folders, class folders, errors that name the source."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrove.agent.capture.folder_source import FolderSource
from facetrove.agent.capture.open_source import open_source
from facetrove.agent.capture.source import ArraySource, Pacer, SourceError
from facetrove.agent.capture.video_sources import CameraSource, StreamSource, VideoFileSource
from facetrove.agent.config.capture import SourceConfig
from tests.support.data import expression_file, face_file


def test_video_file_yields_every_frame_then_ends() -> None:
    """A real video is read to the end; timestamps follow the video's own frame rate."""
    src = open_source(str(face_file("single_face.mp4")), SourceConfig(width=320))
    assert isinstance(src, VideoFileSource)
    frames = list(src)
    assert len(frames) == 72
    assert frames[0].image.shape == (180, 320, 3)
    assert [f.index for f in frames] == list(range(72))
    assert frames[-1].captured_at - frames[0].captured_at == timedelta(seconds=71 / 30)
    assert frames[0].source == "file:single_face.mp4"
    assert frames[0].captured_at.utcoffset() == timedelta(0)


def test_truncated_video_is_a_clear_error(tmp_path: Path) -> None:
    """Half of a real mp4 (its index is lost): SourceError that names the file; nothing read."""
    data = face_file("single_face.mp4").read_bytes()
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"file:broken\.mp4.*cannot open"):
        open_source(str(bad))


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "noise.avi"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(SourceError, match=r"noise\.avi"):
        open_source(str(bad))


def test_missing_camera_is_a_clear_error() -> None:
    """Camera 57 does not exist here: the error names it instead of yielding nothing."""
    with pytest.raises(SourceError, match="camera:57: cannot open camera 57"):
        open_source("57")


def test_unknown_spec_names_itself() -> None:
    with pytest.raises(SourceError, match=r"'/no/such/thing\.mp4' not found"):
        open_source("/no/such/thing.mp4")


def _class_tree(root: Path) -> None:
    for label, code in (("happy", "hao"), ("surprise", "su"), ("angry", "anc")):
        (root / label).mkdir(parents=True)
        shutil.copy(expression_file(code), root / label / f"{code}.jpg")
    shutil.copy(face_file("single_face.jpg"), root / "loose.jpg")
    (root / "happy" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "happy" / "notes.txt").write_text("not an image")


def test_folder_of_class_folders_carries_labels(tmp_path: Path) -> None:
    """Class folders give provided_label; a broken image is skipped and counted, not fatal."""
    _class_tree(tmp_path)
    src = open_source(str(tmp_path))
    assert isinstance(src, FolderSource)
    frames = list(src)
    got = {(f.source, f.provided_label) for f in frames}
    assert got == {
        (f"folder:{tmp_path.name}", "angry"),
        (f"folder:{tmp_path.name}", "happy"),
        (f"folder:{tmp_path.name}", "surprise"),
        (f"folder:{tmp_path.name}", None),
    }
    assert src.skipped == 1
    assert all(f.still and f.image.ndim == 3 for f in frames)
    assert [f.index for f in frames] == [0, 1, 2, 3]


def test_folder_labels_can_be_switched_off(tmp_path: Path) -> None:
    _class_tree(tmp_path)
    frames = list(FolderSource(tmp_path, SourceConfig(label_from_folder=False)))
    assert {f.provided_label for f in frames} == {None}


def test_videos_in_a_folder_are_named_once_each_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: two real videos (one in a class folder, one with an upper-case suffix) beside the
    photos of a folder source. Before: not a word, not a count; a user thought the clip had no
    faces. Kept: one warning per video, naming it and saying how to read it; counted in
    skipped_videos (not in skipped, the unreadable images); the photos read as before."""
    _class_tree(tmp_path)
    shutil.copy(face_file("single_face.mp4"), tmp_path / "happy" / "clip.mp4")
    shutil.copy(face_file("no_face.mp4"), tmp_path / "street.MOV")
    src = FolderSource(tmp_path)
    caplog.set_level("WARNING", logger="facetrove.agent.capture.folder_source")
    frames = list(src)
    assert len(frames) == 4 and all(f.still for f in frames)
    assert src.skipped == 1 and src.skipped_videos == 2
    videos = [r.getMessage() for r in caplog.records if "skipped video file" in r.getMessage()]
    assert len(videos) == 2, videos
    assert any("happy/clip.mp4" in m for m in videos) and any("street.MOV" in m for m in videos)
    assert all("--source" in m and "reads images only" in m for m in videos), videos


def test_single_image_file(tmp_path: Path) -> None:
    src = open_source(str(face_file("single_face.jpg")))
    frames = list(src)
    assert len(frames) == 1 and frames[0].provided_label is None
    assert frames[0].source == "image:single_face.jpg"


class _FakeCapture:
    """A capture that gives ``frames`` frames then fails, or never opens."""

    def __init__(self, frames: int, opened: bool = True) -> None:
        self.left = frames
        self.opened = opened
        self.released = False

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.zeros((48, 64, 3), np.uint8)

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        self.released = True


def test_stream_reconnects_with_capped_backoff() -> None:
    """A stream drops after 2 frames; 4 reopens fail, the 5th works: waits double, capped."""
    plan = [_FakeCapture(2)] + [_FakeCapture(0, opened=False) for _ in range(4)]
    plan += [_FakeCapture(3)]
    waits: list[float] = []
    cfg = SourceConfig(reconnect_initial_s=1, reconnect_max_s=5)
    src = StreamSource(
        "rtsp://user:secret@cam.local:554/live", cfg, lambda: plan.pop(0), waits.append
    )
    assert src.label == "rtsp:cam.local:554/live"  # no credentials in stored labels
    frames = []
    for frame in src:
        frames.append(frame)
        if len(frames) == 5:
            src.close()
    assert len(frames) == 5
    assert waits == [1, 2, 4, 5, 5]
    assert src.reconnects == 1


def test_camera_gives_up_after_reconnect_attempts() -> None:
    plan = [_FakeCapture(1)] + [_FakeCapture(0, opened=False) for _ in range(3)]
    cfg = SourceConfig(reconnect_attempts=3)
    src = CameraSource(0, cfg, lambda: plan.pop(0), lambda s: None)
    it = iter(src)
    next(it)
    with pytest.raises(SourceError, match="camera:0: gave up after 3 failed reconnects"):
        next(it)


def test_pacer_caps_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 6))
        now[0] += s

    pacer = Pacer(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        pacer.wait()
    assert slept == [0.1, 0.1, 0.1]


def test_video_rate_cap_and_resize_keep_aspect() -> None:
    cfg = SourceConfig(height=90)
    frames = list(VideoFileSource(face_file("single_face.mp4"), cfg))
    assert frames[0].image.shape == (90, 160, 3)


def test_array_source_double() -> None:
    imgs = [np.full((10, 10, 3), i, np.uint8) for i in range(3)]
    frames = list(ArraySource(imgs, fps=10))
    assert (frames[2].captured_at - frames[0].captured_at).total_seconds() == pytest.approx(0.2)
    assert cv2.mean(frames[1].image)[0] == 1
