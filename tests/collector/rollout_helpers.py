"""Rollouts to real agents for end-to-end tests: a looped face clip for the agents, the model ids
a device's stored samples carry, and the collector commands as a user types them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from facetrove.collector.store import DB_NAME, connect
from tests.agent.agent_process import Agent, start_agent
from tests.collector.ingest_helpers import FACETROVE
from tests.support.data import looped_clip

__all__ = ["cli", "grows", "looped_clip", "model_error", "models_of", "run_agent"]


def models_of(data: Path, device: str) -> list[str]:
    """Pre-label model ids of a device's stored samples, in capture order."""
    db = connect(data / DB_NAME)
    try:
        rows = db.conn.execute(
            "SELECT prelabel_model_id FROM samples WHERE device_id = ? ORDER BY captured_at, id",
            [device],
        ).fetchall()
        return [str(r[0]) for r in rows]
    finally:
        db.close()


def model_error(data: Path, device: str) -> str | None:
    """The model error the device reported last (None: none)."""
    db = connect(data / DB_NAME)
    try:
        row = db.conn.execute("SELECT model_error FROM devices WHERE id = ?", [device]).fetchone()
        return None if row is None or row[0] is None else str(row[0])
    finally:
        db.close()


def cli(cfg: Path, *args: str) -> str:
    """``facetrove collector ARGS --config CFG``; its output (asserts it succeeded)."""
    proc = subprocess.run([FACETROVE, "collector", *args, "--config", str(cfg)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def grows(data: Path, device: str, model_id: str, after: int, agent: Agent) -> bool:
    """The device stored a sample by ``model_id`` beyond its first ``after`` samples."""
    assert agent.proc.poll() is None, f"agent exited:\n{agent.stderr[-2000:]}"
    return model_id in models_of(data, device)[after:]


def run_agent(workdir: Path, port: int, device: str, login: dict[str, str], clip: Path) -> Agent:
    """A real agent for ``device`` on the collector's broker, fetching models from it."""
    broker = f"mqtt://{device}:{login['password']}@127.0.0.1:{port}"
    return start_agent(workdir, broker, device, "--max-fps", "8", "--set",
                       f"model_updates.collector_url={login['collector_url']}",
                       source=str(clip))  # fmt: skip
