"""The default outbox lives in the agent's state folder, never the current directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from facetrove.agent.config import AgentConfig
from facetrove.agent.config.delivery import state_dir


def test_state_dir_order(tmp_path: Path) -> None:
    home = Path.home()
    assert state_dir({}) == home / ".local" / "state" / "facetrove"
    assert state_dir({"XDG_STATE_HOME": "relative/ignored"}) == state_dir({})
    assert state_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "facetrove"
    both = {"XDG_STATE_HOME": str(tmp_path), "STATE_DIRECTORY": "/var/lib/facetrove/agent:/x"}
    assert state_dir(both) == Path("/var/lib/facetrove/agent")


def test_default_outbox_is_not_in_the_current_directory(tmp_path: Path) -> None:
    """A newcomer runs the agent from anywhere: the outbox lands in one place."""
    cfg = AgentConfig(device_id="cam-1")
    assert cfg.outbox.path == Path(os.environ["XDG_STATE_HOME"]) / "facetrove" / "outbox.db"
    code = (
        "from facetrove.agent.config import AgentConfig; "
        "print(AgentConfig(device_id='a').outbox.path)"
    )
    env = {**os.environ, "STATE_DIRECTORY": str(tmp_path / "svc")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    assert out == str(tmp_path / "svc" / "outbox.db")
