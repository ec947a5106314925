"""Upload jobs: run ``facetrove collector import`` on uploaded files, one subprocess per job.

The web page and the command share one import: the same formats, checks, duplicate rules and
summary. Photos that need face detection go on from there to the agent's own pipeline (another
subprocess); the collector never imports agent code. The job follows the import's JSON lines
(progress per batch, then the summary).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetrove.collector.web.job_registry import Job, JobFailed, JobRegistry
from facetrove.collector.web.job_registry import registry as slot_registry

LOG_TAIL = 40
HISTORY = 200  # finished upload jobs kept for the page


@dataclass
class UploadJob:
    """One import of uploaded files or of a folder on the server."""

    id: str
    user_id: int
    kind: str  # files | zip | folder
    folder: Path  # what is imported (a folder or a zip file)
    files: int
    status: str = "queued"  # queued | running | done | failed
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    returncode: int | None = None
    done: int = 0  # images looked at so far
    total: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    stage: str = ""  # e.g. finding the faces of 12 photos with the agent
    summary: dict[str, Any] | None = None
    log_tail: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def imported(self) -> int:
        return int(self.outcomes.get("imported", 0))

    def detail(self) -> str:
        """The job table's line: the error, the stage, or what a finished import did with the
        reasons and up to three entries each ('1 unsafe-name: ../escape.jpg')."""
        if self.error or self.stage or self.status != "done":
            return self.error or self.stage
        o = self.outcomes
        text = (
            f"{o.get('imported', 0)} imported, {o.get('already-imported', 0)} already, "
            f"{o.get('duplicate', 0)} duplicates, {o.get('skipped', 0)} skipped"
        )
        summary = self.summary or {}
        examples = summary.get("examples") or {}
        why = []
        for reason, n in (summary.get("reasons") or {}).items():
            shown = examples.get(reason) or []
            why.append(f"{n} {reason}" + (": " + ", ".join(shown[:3]) if shown else ""))
        held = summary.get("held_back") or {}
        if held.get("count"):
            text += f", {held['count']} held back"
            why.append(
                f"{held['count']} held back, {held.get('reason', '')}: "
                + ", ".join(held.get("examples", [])[:3])
            )
        return text + (f" ({'; '.join(why)})" if why else "")

    def to_json(self) -> dict[str, Any]:
        """What the page and the API show."""
        return {
            "id": self.id,
            "kind": self.kind,
            "files": self.files,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "returncode": self.returncode,
            "done": self.done,
            "total": self.total,
            "imported": self.imported,
            "held_back": int(self.outcomes.get("held-back", 0)),
            "outcomes": self.outcomes,
            "stage": self.stage,
            "summary": self.summary,
            "error": self.error,
            "detail": self.detail(),
            "log_tail": self.log_tail[-10:],
        }


def new_job_id() -> str:
    """Short and unique."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def facetrove_command() -> list[str]:
    """The argv that runs ``facetrove`` with this Python."""
    script = Path(sys.executable).with_name("facetrove")
    if script.exists():
        return [str(script)]
    found = shutil.which("facetrove")
    if found:
        return [found]
    return [sys.executable, "-c", "from facetrove.cli import main; main()"]


def agent_command(configured: list[str] | None) -> list[str]:
    """The argv prefix that runs ``facetrove agent``."""
    return list(configured) if configured else [*facetrove_command(), "agent"]


class UploadJobs:
    """In-memory list of upload jobs with their import progress; each runs as an ``uploads`` job
    of the app's job registry (job_registry.py), which limits how many run at once."""

    def __init__(self) -> None:
        self._jobs: dict[str, UploadJob] = {}
        self._lock = threading.Lock()
        self._registry: JobRegistry | None = None

    def all(self) -> list[UploadJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.created_at)

    def get(self, job_id: str) -> UploadJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, job: UploadJob, argv: list[str], cleanup: Path | None, slot: Job) -> None:
        """Register ``job`` and run ``argv`` for it as the app registry's reserved ``slot``
        (an ``uploads`` job, so web.jobs.max_uploads run at once); ``cleanup`` is removed when
        it ends (uploaded files, once imported, live in the blob store)."""
        with self._lock:
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.finished_at is not None]
            for old in sorted(finished, key=lambda k: self._jobs[k].created_at)[:-HISTORY]:
                del self._jobs[old]
        self._registry = self._registry or slot_registry()
        self._registry.start(slot, functools.partial(self._run, job, argv, cleanup))

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every started job (tests, shutdown)."""
        if self._registry is not None:
            self._registry.wait(timeout)

    def _run(self, job: UploadJob, argv: list[str], cleanup: Path | None) -> None:
        job.status = "running"
        try:
            self._follow(job, argv)
        finally:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
            job.finished_at = time.time()
        if job.status == "failed":
            raise JobFailed(job.error or "the import failed")

    def _follow(self, job: UploadJob, argv: list[str]) -> None:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            job.status, job.error = "failed", f"cannot start the import: {exc}"
            return
        err_thread = threading.Thread(target=self._read_stderr, args=(job, proc), daemon=True)
        err_thread.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            _apply_event(job, line)
        proc.wait()
        err_thread.join(5)
        job.returncode = proc.returncode
        if proc.returncode == 0:
            job.status = "done"
        else:
            job.status = "failed"
            job.error = job.error or (job.log_tail[-1] if job.log_tail else "")
            job.error = job.error or f"exit {proc.returncode}"

    @staticmethod
    def _read_stderr(job: UploadJob, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            job.log_tail.append(line.rstrip()[:300])
            del job.log_tail[:-LOG_TAIL]


def _apply_event(job: UploadJob, line: str) -> None:
    """One JSON line of ``collector import --json``."""
    try:
        event = json.loads(line)
    except ValueError:
        return
    if not isinstance(event, dict):
        return
    kind = event.get("event")
    if kind == "progress":
        job.done, job.total = int(event.get("done", 0)), int(event.get("total", 0))
        job.outcomes = dict(event.get("outcomes", {}))
        job.stage = str(event.get("stage", ""))[:200]
    elif kind == "summary":
        job.summary = event
        job.outcomes = dict(event.get("outcomes", {}))
    elif kind == "refused":
        job.error = str(event.get("error", ""))[:500]
