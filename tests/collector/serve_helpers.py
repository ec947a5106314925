"""`facetrove collector serve` (embedded broker, ingest, web) in a subprocess for tests."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.collector.identity_helpers import add_device
from tests.collector.ingest_helpers import FACETROVE
from tests.support.broker import free_port, wait_port


@dataclass
class Serve:
    """One `facetrove collector serve` process with its embedded broker child."""

    proc: subprocess.Popen[bytes]
    data: Path
    port: int
    log: Path
    logins: dict[str, dict[str, Any]] = field(default_factory=dict)
    web_port: int = 0

    def password(self, user: str) -> str:
        """The password of a device added at start, or of one of the collector's own users."""
        if user in self.logins:
            return str(self.logins[user]["password"])
        return str(json.loads((self.data / "broker" / "credentials.json").read_text())[user])

    def url(self, device: str) -> str:
        """The broker URL a device's agent uses, with its login."""
        return f"mqtt://{device}:{self.password(device)}@127.0.0.1:{self.port}"

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


def start_serve(tmp: Path, port: int | None = None, devices: tuple[str, ...] = ()) -> Serve:
    """Start serve with its data in ``tmp/data`` (kept across restarts) and wait for ingest;
    ``devices`` are added first (`collector device add`), each with its own login."""
    data, port, log = tmp / "data", port or free_port(), tmp / "serve.log"
    web_port = free_port()
    logins = {name: add_device(data, name) for name in devices}
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port", str(port),
             "--port", str(web_port)],
            stdout=out, stderr=out,
        )  # fmt: skip
    wait_port(port, 30)
    deadline = time.monotonic() + 30
    while "subscribed" not in log.read_text()[offset:]:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    return Serve(proc, data, port, log, logins, web_port)


def stop_serve(serve: Serve) -> None:
    if serve.proc.poll() is None:
        serve.proc.terminate()
        serve.proc.wait(30)
