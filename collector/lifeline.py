"""Child processes that must not outlive the collector that started them: the embedded broker
(collector/broker/process.py) and a training started from the web (collector/web/train_jobs.py).

On Linux the kernel kills the child when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``),
whatever the signal that killed the parent. The parent here is the thread that started the
child: the starter must stay alive (waiting for the child) as long as the child runs. Where
prctl does not exist, or as a second guard, the child compares ``os.getppid()`` with the pid it
was given (``parent_alive``): an orphan is adopted by another process.

A training learns its parent from the environment (``FACETROVE_PARENT_PID``), so the web runs
the same command a user types; a user's own run has no such variable and no lifeline.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Mapping

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
PARENT_ENV = "FACETROVE_PARENT_PID"


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies; exit now if it already has."""
    libc_name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and libc_name:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if not parent_alive(parent):  # the parent died before prctl took effect
        os._exit(0)


def parent_alive(parent: int) -> bool:
    """The process that started this one is still its parent."""
    return os.getppid() == parent


def parent_from_env(environ: Mapping[str, str] = os.environ) -> int | None:
    """The pid in ``FACETROVE_PARENT_PID``, or None (not set, or not a pid)."""
    value = environ.get(PARENT_ENV, "")
    return int(value) if value.isdigit() and int(value) > 1 else None


def child_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """An environment that names this process as the child's parent."""
    return {**environ, PARENT_ENV: str(os.getpid())}
