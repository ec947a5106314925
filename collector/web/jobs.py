"""Upload jobs: run the agent's own command on uploaded files, one subprocess per job.

Faces are detected, cropped and pre-labelled exactly as on a device because the agent does it;
the collector never imports agent code. The subprocess publishes to the collector's broker as a
device named ``upload-<job id>`` and its samples enter the queue through ingest.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
LOG_TAIL = 40


@dataclass
class UploadJob:
    """One agent run over a folder of uploaded or imported images."""

    id: str
    user_id: int
    kind: str  # files | folder
    folder: Path
    files: int
    device_id: str
    status: str = "queued"  # queued | running | done | failed
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    returncode: int | None = None
    delivered: int = 0
    summary: dict[str, Any] | None = None
    log_tail: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """What the page and the API show."""
        return {
            "id": self.id,
            "kind": self.kind,
            "files": self.files,
            "device_id": self.device_id,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "returncode": self.returncode,
            "delivered": self.delivered,
            "summary": self.summary,
            "error": self.error,
            "log_tail": self.log_tail[-10:],
        }


def new_job_id() -> str:
    """Short, unique, valid inside a device id."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def agent_command(configured: list[str] | None) -> list[str]:
    """The argv prefix that runs ``facetrove agent``."""
    if configured:
        return list(configured)
    script = Path(sys.executable).with_name("facetrove")
    if script.exists():
        return [str(script), "agent"]
    found = shutil.which("facetrove")
    if found:
        return [found, "agent"]
    return [sys.executable, "-c", "from facetrove.cli import main; main()", "agent"]


class JobRegistry:
    """In-memory registry of upload jobs; each runs in its own thread."""

    def __init__(self) -> None:
        self._jobs: dict[str, UploadJob] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def all(self) -> list[UploadJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.created_at)

    def get(self, job_id: str) -> UploadJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, job: UploadJob, argv: list[str]) -> None:
        """Register ``job`` and run ``argv`` for it in a background thread."""
        with self._lock:
            self._jobs[job.id] = job
        thread = threading.Thread(
            target=self._run, args=(job, argv), daemon=True, name=f"upload-{job.id}"
        )
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every started job (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self, job: UploadJob, argv: list[str]) -> None:
        job.status = "running"
        id_log = job.folder.parent / "ids.log"
        try:
            proc = subprocess.Popen(
                [*argv, "--id-log", str(id_log)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            job.status, job.error, job.finished_at = (
                "failed",
                f"cannot start agent: {exc}",
                time.time(),
            )
            return
        err_thread = threading.Thread(target=self._read_stderr, args=(job, proc), daemon=True)
        err_thread.start()
        while proc.poll() is None:
            job.delivered = _count_acks(id_log)
            time.sleep(0.5)
        out = proc.stdout.read() if proc.stdout else ""
        err_thread.join(5)
        job.delivered = _count_acks(id_log)
        job.returncode = proc.returncode
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                try:
                    job.summary = json.loads(line)
                except ValueError:
                    continue
                break
        if proc.returncode == 0:
            job.status = "done"
        else:
            job.status = "failed"
            job.error = (job.log_tail[-1] if job.log_tail else "") or f"exit {proc.returncode}"
        job.finished_at = time.time()

    @staticmethod
    def _read_stderr(job: UploadJob, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            job.log_tail.append(line.rstrip()[:300])
            del job.log_tail[:-LOG_TAIL]


def _count_acks(id_log: Path) -> int:
    try:
        with id_log.open() as fh:
            return sum(1 for line in fh if line.startswith("ack "))
    except FileNotFoundError:
        return 0
