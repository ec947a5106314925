"""JSON logs on both sides: with FACETROVE_LOG_FORMAT=json every line a real `collector ingest`
and a real `agent run` write to stderr through Python's logging is one JSON object with time,
level, logger, message (MediaPipe's native library writes its own text lines)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.collector.ingest_helpers import FACETROVE
from tests.support.broker import free_port


def json_lines(stderr: str) -> list[dict[str, str]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    parsed = [json.loads(line) for line in lines]  # raises on any text line
    for entry in parsed:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
    return parsed


def test_collector_ingest_logs_json_lines(tmp_path: Path) -> None:
    env = {**os.environ, "FACETROVE_LOG_FORMAT": "json"}
    proc = subprocess.Popen(
        [FACETROVE, "collector", "ingest", "--data-dir", str(tmp_path / "data"),
         "--broker", f"mqtt://127.0.0.1:{free_port()}"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    time.sleep(4)  # it starts, and finds no broker there
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    logged = json_lines(err)
    assert any(e["logger"].startswith("facetrove") for e in logged), logged


def test_agent_run_logs_json_lines(tmp_path: Path) -> None:
    env = {**os.environ, "FACETROVE_LOG_FORMAT": "json"}
    (tmp_path / "photos").mkdir()
    proc = subprocess.run(
        [FACETROVE, "agent", "run", "--source", str(tmp_path / "photos"), "--device-id", "cam-1",
         "--broker", f"mqtt://127.0.0.1:{free_port()}", "--outbox", str(tmp_path / "o.db"),
         "--once", "--set", "broker.connect_timeout_s=1"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    # MediaPipe's native code (LiteRT, XNNPACK) writes its own lines to stderr, past Python's
    # logging: those stay text. Every line of ours is JSON.
    ours = [line for line in proc.stderr.splitlines() if line.startswith("{")]
    native = [line for line in proc.stderr.splitlines() if line.strip() and line not in ours]
    assert not [n for n in native if " facetrove." in n], native
    logged = json_lines("\n".join(ours))
    assert any(e["logger"].startswith("facetrove") for e in logged), logged
