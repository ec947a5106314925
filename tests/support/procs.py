"""Processes in tests: whether one still runs."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """The process runs (a zombie waiting for whoever adopted it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
