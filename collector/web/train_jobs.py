"""Training from the web: ``facetrove collector train`` as a subprocess in a background thread,
its per-epoch lines followed for the progress, web.jobs.max_trains at a time (default 1: 2 cores
are plenty busy).

The subprocess is the same command a user types, so the page and the CLI share one code path,
the web process never imports PyTorch, and a missing ``train`` extra shows the command's own
install hint as the job's error.

Each job is a row of the store (store/train_jobs.py), so it outlives the process: a job whose
process died (the collector was killed or stopped mid-training) is marked ``interrupted`` when
the next app on this store looks at its jobs. Which jobs are still alive is told by a lock: the
thread that runs a job holds an exclusive ``flock`` on ``models/.jobs/<id>.lock`` from before
its row exists until it ends. The kernel drops it when the process dies, whatever the signal;
a job of another live process (a second web app on the same store) keeps its lock and stays
running.

The training dies with the collector: the thread that starts it names its process in
``FACETROVE_PARENT_PID`` and waits for it to end, and the child asks the kernel to kill it when
that thread goes (collector/lifeline.py); before its folder gets its final name it checks that
its parent is still there. Killed mid-write, it leaves only ``models/.<name>.partial``, which
``recover`` removes.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from facetrove.collector import lifeline
from facetrove.collector.store import DB_NAME, Database, connect
from facetrove.collector.store import train_jobs as rows
from facetrove.collector.train.folder import models_root
from facetrove.collector.web.job_registry import Job, JobRegistry
from facetrove.collector.web.jobs import facetrove_command, new_job_id

_EPOCH = re.compile(r"^epoch (\d+)/(\d+): loss ([0-9.]+), valid acc ([0-9.]+%|-)")
LOG_TAIL = 30
INTERRUPTED = "interrupted: the collector stopped while this training ran; nothing was registered"


class JobLock:
    """An exclusive lock that says a job's process is alive."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    @classmethod
    def take(cls, data_dir: Path, job_id: str) -> JobLock | None:
        """The job's lock, or None if a live process holds it."""
        path = models_root(data_dir) / ".jobs" / f"{job_id}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by the subprocess
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(fd, path)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
        os.close(self.fd)


class TrainJobs:
    """The app's training jobs: started here, read from the store."""

    def __init__(self, registry: JobRegistry, data_dir: Path) -> None:
        self._registry = registry
        self.data_dir = Path(data_dir)

    def recover(self, db: Database) -> list[str]:
        """Mark ``interrupted`` the running jobs whose process is gone; their ids."""
        found = []
        for job in rows.running(db):
            lock = JobLock.take(self.data_dir, job.id)
            if lock is None:
                continue  # alive, in this process or another
            job.error = INTERRUPTED
            # what a run killed while it wrote its hidden folder left (the kernel's SIGKILL)
            shutil.rmtree(models_root(self.data_dir) / f".{job.name}.partial", ignore_errors=True)
            if (models_root(self.data_dir) / job.name).exists():
                job.error += f"; its model folder {job.name} was written before the stop"
            rows.finish(db, job, "interrupted")
            lock.release()
            found.append(job.id)
        return found

    def start(self, db: Database, version_id: str, name: str, epochs: int) -> rows.TrainJob:
        """Start ``collector train`` for ``version_id`` as a ``trains`` job of the app's job
        registry; TooManyJobs when web.jobs.max_trains are running."""
        slot = self._registry.reserve("trains", label=f"model {name}", job_id=new_job_id())
        try:
            lock = JobLock.take(self.data_dir, slot.id)
            assert lock is not None, "a new job id is locked already"
            job = rows.add(db, slot.id, version_id, name, epochs)
        except BaseException:
            self._registry.cancel(slot)
            raise
        argv = [*facetrove_command(), "collector", "train", version_id, "--name", name,
                "--epochs", str(epochs), "--data-dir", str(self.data_dir)]  # fmt: skip
        self._registry.start(slot, functools.partial(self._run, slot, job, argv, lock))
        return job

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every started job (tests, shutdown)."""
        self._registry.wait(timeout)

    def _run(self, slot: Job, job: rows.TrainJob, argv: list[str], lock: JobLock) -> None:
        db = connect(self.data_dir / DB_NAME, migrate_schema=False)
        try:
            self._follow(db, job, argv)
            status = "done" if job.returncode == 0 else "failed"
            if status == "failed":
                errors = [line for line in job.log_tail if line.startswith("Error:")]
                job.error = job.error or (errors[-1] if errors else "\n".join(job.log_tail[-5:]))
            # The slot first: once the row (what the pages show) says the job ended, a Train
            # press is never refused for it.
            self._registry.settle(slot, status, job.error)
            rows.finish(db, job, status)
        finally:
            db.close()
            lock.release()

    @staticmethod
    def _follow(db: Database, job: rows.TrainJob, argv: list[str]) -> None:
        try:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env={"COLUMNS": "160", **lifeline.child_env()},
            )  # fmt: skip
        except OSError as exc:
            job.error, job.returncode = f"cannot run the training: {exc}", -1
            return
        rows.started(db, job.id, proc.pid)
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if not line:
                continue
            job.log_tail = [*job.log_tail[-LOG_TAIL:], line]
            m = _EPOCH.match(line)
            if m:
                job.epoch, job.loss, job.valid_acc = int(m[1]), float(m[3]), m[4]
            rows.progress(db, job)
        job.returncode = proc.wait()
