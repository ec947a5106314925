"""The embedded broker in a child process of its own (what ``serve`` uses by default).

In the collector's process amqtt's event loop competes with ingest and the web app for the
GIL; alone in a process it runs at its own speed (docs/benchmarks.md). The child is the same
``EmbeddedBroker`` class, started by ``python -m facetrove.collector.broker.process``; it stops
on SIGTERM and with its parent.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from facetrove.collector.broker.embedded import EmbeddedBroker, EmbeddedBrokerError

log = logging.getLogger("facetrove.broker")
READY = "facetrove-broker-ready"


class BrokerProcess:
    """``EmbeddedBroker`` in a child process; same ``start()``/``stop()``/``url``."""

    def __init__(self, host: str, port: int, password_file: Path) -> None:
        self.host = host
        self.port = port
        self.password_file = password_file
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> BrokerProcess:
        """Start the child and wait until it listens.

        Raises:
            EmbeddedBrokerError: the child could not start the broker (its message included).
        """
        cmd = [sys.executable, "-m", "facetrove.collector.broker.process",
               self.host, str(self.port), str(self.password_file)]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        line = _readline(self._proc, timeout)
        if line.strip() != READY:
            self._proc.kill()
            _, err = self._proc.communicate(timeout=10)
            detail = (line + err).strip().splitlines()
            raise EmbeddedBrokerError(detail[-1] if detail else "embedded broker process failed")
        log.info("embedded broker process %d listening on %s", self._proc.pid, self.url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL after ``timeout``)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.info("embedded broker process stopped")


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(
        target=lambda: result.append(proc.stdout.readline() if proc.stdout else ""), daemon=True
    )
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def main(argv: list[str]) -> int:
    """Child entry point: ``HOST PORT PASSWORD_FILE``."""
    logging.basicConfig(level=logging.CRITICAL)
    host, port, password_file = argv[0], int(argv[1]), Path(argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        broker = EmbeddedBroker(host, port, password_file).start()
    except EmbeddedBrokerError as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    print(READY, flush=True)
    parent = _parent_pid()
    try:
        # Also stop when the collector dies without stopping us (kill -9 of the parent).
        while not stop.wait(1.0):
            if _parent_pid() != parent:
                break
    finally:
        broker.stop()
    return 0


def _parent_pid() -> int:
    return os.getppid()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
