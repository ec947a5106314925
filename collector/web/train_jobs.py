"""Training from the web: ``facetrove collector train`` as a subprocess in a background thread,
its per-epoch lines followed for the progress, web.jobs.max_trains at a time (default 1: 2 cores
are plenty busy).

The subprocess is the same command a user types, so the page and the CLI share one code path,
the web process never imports PyTorch, and a missing ``train`` extra shows the command's own
install hint as the job's error.
"""

from __future__ import annotations

import functools
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetrove.collector.web.job_registry import JobRegistry
from facetrove.collector.web.jobs import facetrove_command, new_job_id

_EPOCH = re.compile(r"^epoch (\d+)/(\d+): loss ([0-9.]+), valid acc ([0-9.]+%|-)")
LOG_TAIL = 30


@dataclass
class TrainJob:
    """One training run started from a version's page."""

    id: str
    version_id: str
    name: str
    epochs: int
    status: str = "running"  # running | done | failed
    epoch: int = 0
    loss: float | None = None
    valid_acc: str = "-"
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    returncode: int | None = None
    log_tail: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """What the page shows."""
        return {k: v for k, v in vars(self).items()}


class TrainJobs:
    """The app's training jobs (in memory)."""

    def __init__(self, registry: JobRegistry) -> None:
        self._jobs: dict[str, TrainJob] = {}
        self._lock = threading.Lock()
        self._registry = registry

    def get(self, job_id: str) -> TrainJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, data_dir: Path, version_id: str, name: str, epochs: int) -> TrainJob:
        """Start ``collector train`` for ``version_id`` as a ``trains`` job of the app's job
        registry; TooManyJobs when web.jobs.max_trains are running."""
        slot = self._registry.reserve("trains", label=f"model {name}", job_id=new_job_id())
        job = TrainJob(slot.id, version_id, name, epochs)
        with self._lock:
            self._jobs[job.id] = job
        argv = [*facetrove_command(), "collector", "train", version_id, "--name", name,
                "--epochs", str(epochs), "--data-dir", str(data_dir)]  # fmt: skip
        self._registry.start(slot, functools.partial(self._run, job, argv))
        return job

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every started job (tests, shutdown)."""
        self._registry.wait(timeout)

    @staticmethod
    def _run(job: TrainJob, argv: list[str]) -> None:
        try:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env={"COLUMNS": "160", **_env()},
            )  # fmt: skip
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip()
                if not line:
                    continue
                job.log_tail = [*job.log_tail[-LOG_TAIL:], line]
                m = _EPOCH.match(line)
                if m:
                    job.epoch, job.loss, job.valid_acc = int(m[1]), float(m[3]), m[4]
            job.returncode = proc.wait()
        except OSError as exc:
            job.error = f"cannot run the training: {exc}"
            job.returncode = -1
        job.finished_at = time.time()
        if job.returncode == 0:
            job.status = "done"
        else:
            job.status = "failed"
            errors = [line for line in job.log_tail if line.startswith("Error:")]
            job.error = job.error or (errors[-1] if errors else "\n".join(job.log_tail[-5:]))


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
