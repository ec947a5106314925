"""`collector serve` whose web port is taken (issue-14 audit): it printed the web app's address
and 'running', then a thread's traceback, stopped everything and exited 0, which a systemd unit
with Restart=on-failure takes for a clean stop: the collector stayed down. Now it says so in one
line before anything starts listening for devices, and exits 1."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.collector.ingest_helpers import FACETROVE
from tests.support.broker import free_port


def test_a_taken_web_port_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker_port = free_port()
        proc = subprocess.run(
            [FACETROVE, "collector", "serve", "--data-dir", str(tmp_path / "data"),
             "--port", str(port), "--broker-port", str(broker_port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr and "running" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"], errors
    with socket.socket() as probe:  # the embedded broker was stopped too
        assert probe.connect_ex(("127.0.0.1", broker_port)) != 0


def test_collector_web_does_not_announce_an_address_it_cannot_take(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [FACETROVE, "collector", "web", "--data-dir", str(tmp_path / "data"), "--port",
             str(port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "review web app on" not in proc.stdout + proc.stderr, proc.stdout
    assert "cannot listen on" in proc.stderr
