"""One registry for the web app's background jobs (version builds, uploads, trainings), with a
limit per kind, each job's status and a bounded history of finished ones.

A job is reserved first and started after: the request that asks for one is refused with
:class:`TooManyJobs` (429, "too many build jobs running, try again ...") before it writes
anything, and releases the reservation if its own checks fail::

    job = registry().reserve("builds", label="version v3")   # TooManyJobs -> 429
    try:
        prep = prepare(...)                                   # may raise: nothing started
    except Exception:
        registry().cancel(job)
        raise
    registry().start(job, lambda: build(prep))               # runs in a thread

``submit(kind, fn, label=...)`` does both when there is nothing to check in between. A job's
status is queued (reserved) -> running -> done, or failed with the exception's first line.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from flask import current_app

log = logging.getLogger(__name__)

#: Kinds of job and the config key (under ``web.jobs``) that limits each.
KINDS = ("builds", "uploads", "exports", "trains")
ACTIVE = ("queued", "running")


class TooManyJobs(RuntimeError):
    """As many jobs of this kind as allowed are running (shown as 429)."""

    def __init__(self, kind: str, limit: int) -> None:
        super().__init__(
            f"too many {kind.rstrip('s')} jobs running ({limit} at a time), try again when one "
            "finishes"
        )
        self.kind, self.limit = kind, limit


class JobFailed(Exception):
    """A job that ended with its own message (an import the importer refused or that failed,
    its reason already in the job's log): one warning line, no traceback of the raise."""


@dataclass
class Job:
    """One background job as the pages show it."""

    id: str
    kind: str
    label: str
    status: str = "queued"  # queued | running | done | failed
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


class JobRegistry:
    """Jobs of every kind, at most ``limits[kind]`` active at once, ``history`` finished kept."""

    def __init__(self, limits: dict[str, int], history: int = 200) -> None:
        self.limits = dict(limits)
        self.history = history
        self._jobs: dict[str, Job] = {}  # insertion order = age
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def reserve(self, kind: str, label: str = "", job_id: str | None = None) -> Job:
        """A queued job of ``kind``, or TooManyJobs if its limit is reached."""
        limit = self.limits.get(kind, 1)
        with self._lock:
            active = sum(1 for j in self._jobs.values() if j.kind == kind and j.status in ACTIVE)
            if active >= limit:
                raise TooManyJobs(kind, limit)
            job = Job(job_id or uuid.uuid4().hex[:12], kind, label)
            self._jobs[job.id] = job
            self._prune()
        return job

    def cancel(self, job: Job) -> None:
        """Forget a reserved job that will not run (its request failed its own checks)."""
        with self._lock:
            self._jobs.pop(job.id, None)

    def start(self, job: Job, fn: Callable[[], None]) -> None:
        """Run ``fn`` for the reserved ``job`` in a thread; its status follows."""
        thread = threading.Thread(target=self._run, args=(job, fn), daemon=True,
                                  name=f"{job.kind}-{job.id}")  # fmt: skip
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def submit(self, kind: str, fn: Callable[[], None], label: str = "") -> Job:
        """Reserve and start in one step."""
        job = self.reserve(kind, label)
        self.start(job, fn)
        return job

    @contextlib.contextmanager
    def slot(self, kind: str, label: str = "") -> Iterator[Job]:
        """Hold a job of ``kind`` while this thread works (a request that waits, e.g. an export)."""
        job = self.reserve(kind, label)
        job.status = "running"
        try:
            yield job
            job.status = "done"
        except BaseException as exc:
            job.status, job.error = "failed", _first_line(exc)
            raise
        finally:
            self._finish(job)

    def settle(self, job: Job, status: str, error: str | None = None) -> None:
        """End a running job from inside it, before it records its outcome elsewhere (a training
        writes its row after this): its slot is free from now on, so a job shown as ended never
        holds one."""
        job.status, job.error = status, error or job.error
        self._finish(job)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self, kind: str | None = None) -> list[Job]:
        """Jobs, newest first."""
        with self._lock:
            return [j for j in reversed(self._jobs.values()) if kind in (None, j.kind)]

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every started job (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self, job: Job, fn: Callable[[], None]) -> None:
        job.status = "running"
        try:
            fn()
            if job.status in ACTIVE:  # not settled by fn itself
                job.status = "done"
        except JobFailed as exc:
            log.warning("%s job %s failed: %s", job.kind, job.id, exc)
            job.status, job.error = "failed", _first_line(exc)
        except Exception as exc:  # the thread's top: record it, or the page waits forever
            log.exception("%s job %s failed", job.kind, job.id)
            job.status, job.error = "failed", _first_line(exc)
        finally:
            self._finish(job)

    def _finish(self, job: Job) -> None:
        if job.status in ACTIVE:  # ended by a BaseException: never hold the slot for good
            job.status, job.error = "failed", job.error or "interrupted"
        job.finished_at = job.finished_at or time.time()
        with self._lock:
            self._prune()

    def _prune(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.status not in ACTIVE]
        for key in finished[: max(0, len(finished) - self.history)]:
            del self._jobs[key]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]


def registry() -> JobRegistry:
    """The app's job registry (made from ``web.jobs`` at first use)."""
    found = current_app.extensions.get("facetrove.job_registry")
    if found is None:
        limits = current_app.config["FACETROVE_WEB"].jobs
        found = current_app.extensions["facetrove.job_registry"] = JobRegistry(
            {kind: getattr(limits, f"max_{kind}") for kind in KINDS}, limits.history
        )
    return cast(JobRegistry, found)
