"""IoU tracker: a face that stays in view keeps its id; ids are never reused."""

from __future__ import annotations

import pytest

from facetrove.agent.capture.detector import Detection
from facetrove.agent.capture.tracker import IouTracker, iou


def _det(x: int, y: int, s: int = 50) -> Detection:
    return Detection((x, y, x + s, y + s), 0.9)


def test_iou_table() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_moving_face_keeps_its_id_and_a_new_face_gets_a_new_one() -> None:
    t = IouTracker(start_id=100)
    ids = [t.update([_det(10 + 3 * i, 10)])[0][0] for i in range(10)]
    assert ids == [100] * 10
    out = t.update([_det(40, 10), _det(300, 300)])
    assert [tid for tid, _ in out] == [100, 101]
    assert t.next_id == 102


def test_track_survives_a_short_gap_then_ends() -> None:
    """The detector misses the face for 2 frames: same id; the 3rd miss in a row ends it."""
    t = IouTracker(max_missed=2)
    first = t.update([_det(0, 0)])[0][0]
    t.update([])
    t.update([])
    assert t.update([_det(2, 0)])[0][0] == first
    for _ in range(2):
        t.update([])
        assert t.ended == []
    t.update([])
    assert t.ended == [first]
    assert t.update([_det(2, 0)])[0][0] != first


def test_two_faces_crossing_do_not_swap_when_boxes_are_distinct() -> None:
    t = IouTracker()
    a, b = (tid for tid, _ in t.update([_det(0, 0), _det(200, 0)]))
    out = dict((d.box[0], tid) for tid, d in t.update([_det(205, 2), _det(4, 1)]))
    assert out == {4: a, 205: b}


def test_reset_ends_everything_and_bad_args() -> None:
    t = IouTracker()
    t.update([_det(0, 0), _det(200, 0)])
    assert sorted(t.reset()) == [0, 1]
    assert t.active == []
    with pytest.raises(ValueError, match="iou_threshold"):
        IouTracker(iou_threshold=0)
    with pytest.raises(ValueError, match="start_id"):
        IouTracker(start_id=-1)
