"""`facetrove collector serve` (embedded broker, ingest, web) in a subprocess for tests."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.collector.ingest_helpers import FACETROVE
from tests.support.broker import free_port, wait_port


@dataclass
class Serve:
    """One `facetrove collector serve` process with its embedded broker child."""

    proc: subprocess.Popen[bytes]
    data: Path
    port: int
    log: Path

    def password(self, user: str) -> str:
        return str(json.loads((self.data / "broker" / "credentials.json").read_text())[user])

    def broker_child(self) -> int:
        """Pid of the broker child process (the only child running our broker module)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and b"facetrove.collector.broker.process" in cmdline:
                return int(entry.name)
        raise AssertionError("no broker child found")


def start_serve(tmp: Path, port: int | None = None) -> Serve:
    """Start serve with its data in ``tmp/data`` (kept across restarts) and wait for ingest."""
    data, port, log = tmp / "data", port or free_port(), tmp / "serve.log"
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port", str(port),
             "--port", str(free_port())],
            stdout=out, stderr=out,
        )  # fmt: skip
    wait_port(port, 30)
    deadline = time.monotonic() + 30
    while "subscribed" not in log.read_text()[offset:]:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    return Serve(proc, data, port, log)


def stop_serve(serve: Serve) -> None:
    if serve.proc.poll() is None:
        serve.proc.terminate()
        serve.proc.wait(30)
