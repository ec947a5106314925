"""JSON logs on both sides: with FACETROVE_LOG_FORMAT=json every line a real `collector ingest`
and a real `agent run` write to stderr through Python's logging is one JSON object with time,
level, logger, message (MediaPipe's native library writes its own text lines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


# -- what the issue-14 audit found outside Python's logging: serve's start-up lines, the agent's
# config errors, a command's "Error:" line and uncaught exceptions were text lines in JSON mode.


def test_collector_serve_start_and_stop_lines_are_json(tmp_path: Path) -> None:
    env = {**os.environ, "FACETROVE_LOG_FORMAT": "json"}
    proc = subprocess.Popen(
        [FACETROVE, "collector", "serve", "--data-dir", str(tmp_path / "data"),
         "--port", str(free_port()), "--broker-port", str(free_port())],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    time.sleep(8)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    logged = json_lines(err)
    messages = " ".join(e["message"] for e in logged)
    assert "MQTT broker (embedded" in messages and "web app: http://" in messages, messages


def test_agent_config_errors_and_the_exit_line_are_json(tmp_path: Path) -> None:
    env = {**os.environ, "FACETROVE_LOG_FORMAT": "json"}
    proc = subprocess.run(
        [FACETROVE, "agent", "run", "--source", str(tmp_path), "--device-id", "cam-1",
         "--set", "sampler.per_minute=-5", "--set", "foo.bar=1"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    logged = json_lines(proc.stderr)
    assert [e["level"] for e in logged] == ["ERROR"] * 3, logged
    assert logged[0]["message"].startswith("sampler.per_minute: "), logged
    assert logged[-1]["message"] == "invalid configuration (2 error(s))", logged


def test_a_usage_error_is_json(tmp_path: Path) -> None:
    env = {**os.environ, "FACETROVE_LOG_FORMAT": "json"}
    proc = subprocess.run(
        [FACETROVE, "collector", "prune", "--no-such-option"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    (entry,) = json_lines(proc.stderr)
    assert entry["level"] == "ERROR" and "--no-such-option" in entry["message"], entry


UNCAUGHT = r"""
import sys, threading
import click
from facetrove import cli

@cli.cli.command("boom")
def boom() -> None:
    t = threading.Thread(target=lambda: 1 / 0, name="worker")
    t.start()
    t.join()
    raise RuntimeError("a bug, uncaught")

sys.argv = ["facetrove", "boom"]
cli.main()
"""


def test_uncaught_exceptions_in_any_thread_are_one_json_line_each() -> None:
    env = {**os.environ, "FACETROVE_LOG_FORMAT": "json"}
    proc = subprocess.run(
        [sys.executable, "-c", UNCAUGHT], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 1
    logged = json_lines(proc.stderr)
    assert [e["level"] for e in logged] == ["CRITICAL", "CRITICAL"], logged
    assert "ZeroDivisionError" in logged[0]["exception"] and "worker" in logged[0]["message"]
    assert "RuntimeError: a bug, uncaught" in logged[1]["exception"], logged
