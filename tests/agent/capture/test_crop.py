"""Square crops with margin, padded at frame edges; full frames downscaled; JPEG out."""

from __future__ import annotations

import cv2
import numpy as np

from facetrove.agent.capture.crop import Cropper, square_region
from facetrove.agent.config.capture import CropConfig
from facetrove.wire.jpeg import jpeg_size


def _frame() -> np.ndarray:
    img = np.zeros((480, 640, 3), np.uint8)
    img[100:200, 300:400] = (0, 0, 255)  # the "face": a red square
    return img


def test_square_region_adds_margin_around_the_longer_side() -> None:
    assert square_region((100, 100, 200, 150), 0.25) == (75, 50, 225, 200)


def test_crop_is_centred_sized_and_encodes() -> None:
    cropper = Cropper(CropConfig(size=96, margin=0.5))
    crop = cropper.square(_frame(), (300, 100, 400, 200))
    assert crop.shape == (96, 96, 3)
    # the face fills the middle half of the crop, the margin is black
    assert crop[48, 48].tolist() == [0, 0, 255]
    assert crop[5, 5].tolist() == [0, 0, 0]
    jpeg = cropper.crop_jpeg(crop)
    assert jpeg_size(jpeg) == (96, 96)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (96, 96, 3)


def test_face_at_the_corner_is_padded_and_stays_centred() -> None:
    img = np.full((100, 100, 3), 255, np.uint8)
    crop = Cropper(CropConfig(size=60, margin=0.5)).square(img, (0, 0, 40, 40))
    assert crop.shape == (60, 60, 3)
    assert crop[2, 2].tolist() == [0, 0, 0]  # padding outside the frame
    assert crop[30, 30].tolist() == [255, 255, 255]  # the face centre


def test_inner_is_tighter() -> None:
    cropper = Cropper(CropConfig(size=160, margin=0.25))
    crop = np.zeros((160, 160, 3), np.uint8)
    assert cropper.inner(crop, 0.1).shape == (128, 128, 3)
    assert cropper.inner(crop, 0.5).shape == (160, 160, 3)


def test_frame_jpeg_downscaled_to_longest_side() -> None:
    cropper = Cropper(CropConfig(frame_max_side=320))
    assert jpeg_size(cropper.frame_jpeg(_frame())) == (320, 240)
    small = np.zeros((100, 50, 3), np.uint8)
    assert jpeg_size(cropper.frame_jpeg(small)) == (50, 100)
