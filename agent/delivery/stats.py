"""Run-time counters of the agent, the stats message, and the optional sample id log."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import IO

from facetrove import wire


class IdLog:
    """Append-only log of what happened to each sample id, one ``event id [detail]`` per line.

    Events: ``put`` (committed to the outbox), ``pub`` (handed to MQTT), ``ack`` (the broker's
    PUBACK), ``confirm`` (the collector's receipt says stored: row deleted), ``refuse`` (the
    receipt says quarantined, with the reason: row deleted), ``resend`` (no receipt in time:
    published again), ``drop`` (removed by an outbox limit). Used by audits and the tests.
    """

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives long

    def write(self, event: str, sample_id: str, detail: str = "") -> None:
        """Append one line (line-buffered, so a kill -9 loses at most the line being written)."""
        if self._fh is None:
            return
        with self._lock:
            self._fh.write(f"{event} {sample_id}{' ' + detail if detail else ''}\n")

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            with self._lock:
                self._fh.close()
                self._fh = None


class RunStats:
    """Counters of one agent run, read by the stats message and the exit summary."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.frames = 0
        self.faces = 0
        self.accepted = 0
        self.drops: Counter[str] = Counter()
        self._fps_mark = (time.monotonic(), 0)
        self.last_fps = 0.0  # the latest reading, as in the stats message (for /metrics)

    def fps(self) -> float:
        """Frames per second since the previous call (the stats interval)."""
        now, frames = time.monotonic(), self.frames
        then, before = self._fps_mark
        self._fps_mark = (now, frames)
        self.last_fps = round((frames - before) / (now - then), 2) if now > then else 0.0
        return self.last_fps

    def uptime(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started


def build_stats(
    *,
    device_id: str,
    run: RunStats,
    sent: int,
    depth: int,
    outbox_bytes: int,
    outbox_drops: dict[str, int],
    pipeline_drops: dict[str, int],
    model_id: str | None,
    paused: bool,
    revision: int | None,
    model_files_deleted: int = 0,
    at: datetime | None = None,
) -> wire.Stats:
    """Assemble a ``wire.Stats`` message from the run's counters."""
    drops = {k: int(v) for k, v in pipeline_drops.items() if v}
    drops.update({k: v for k, v in outbox_drops.items() if v})
    return wire.Stats(
        device_id=device_id,
        at=at or wire.utcnow(),
        uptime_s=round(run.uptime(), 3),
        fps=round(run.fps(), 2),
        frames=run.frames,
        faces=run.faces,
        samples_accepted=run.accepted,
        samples_sent=sent,
        outbox_depth=depth,
        outbox_bytes=outbox_bytes,
        outbox_dropped=sum(outbox_drops.values()),
        drops=drops,
        model_id=model_id,
        paused=paused,
        config_revision=revision,
        model_files_deleted=model_files_deleted,
    )
