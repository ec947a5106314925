"""IoU tracking: a face that stays in view keeps its track id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from facetrove.agent.capture.detector import Detection, iou

Box = tuple[int, int, int, int]


@dataclass
class _Track:
    id: int
    box: Box
    missed: int = 0


class Tracker(Protocol):
    """Assigns track ids to the detections of consecutive frames."""

    @property
    def next_id(self) -> int: ...

    def update(self, detections: Sequence[Detection]) -> list[tuple[int, Detection]]: ...

    def new_id(self) -> int: ...

    def reset(self) -> list[int]: ...


class IouTracker:
    """Greedy IoU matching of detections to the tracks of the previous frames.

    A track survives ``max_missed`` frames without a match (a blink of the detector), then
    ends; ids of tracks that ended in the last ``update`` are in ``ended``. Ids count up from
    ``start_id`` and are never reused within a run; persist ``next_id`` to keep them unique
    across restarts.
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5, start_id: int = 0) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if start_id < 0:
            raise ValueError(f"start_id must be >= 0, got {start_id}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._next = start_id
        self._tracks: list[_Track] = []
        self.ended: list[int] = []

    @property
    def next_id(self) -> int:
        """The id the next new track will get."""
        return self._next

    @property
    def active(self) -> list[int]:
        """Ids of the tracks alive now."""
        return [t.id for t in self._tracks]

    def new_id(self) -> int:
        """Hand out a fresh id (for faces that are not tracked, e.g. in still photos)."""
        self._next += 1
        return self._next - 1

    def update(self, detections: Sequence[Detection]) -> list[tuple[int, Detection]]:
        """Match this frame's detections; return ``(track_id, detection)`` in input order."""
        pairs = sorted(
            (
                (iou(t.box, d.box), ti, di)
                for ti, t in enumerate(self._tracks)
                for di, d in enumerate(detections)
            ),
            reverse=True,
        )
        track_of: dict[int, int] = {}
        used: set[int] = set()
        for overlap, ti, di in pairs:
            if overlap < self.iou_threshold:
                break
            if ti in used or di in track_of:
                continue
            used.add(ti)
            track_of[di] = ti
        self.ended = []
        kept: list[_Track] = []
        for ti, track in enumerate(self._tracks):
            if ti in used:
                track.missed = 0
                kept.append(track)
            elif track.missed < self.max_missed:
                track.missed += 1
                kept.append(track)
            else:
                self.ended.append(track.id)
        out = []
        for di, det in enumerate(detections):
            if di in track_of:
                track = self._tracks[track_of[di]]
                track.box = det.box
            else:
                track = _Track(self.new_id(), det.box)
                kept.append(track)
            out.append((track.id, det))
        self._tracks = kept
        return out

    def reset(self) -> list[int]:
        """End every track (source ended or changed); return their ids."""
        self.ended = [t.id for t in self._tracks]
        self._tracks = []
        return self.ended
