"""The embedded broker in a child process of its own (what ``serve`` uses by default).

In the collector's process amqtt's event loop competes with ingest and the web app for the
GIL; alone in a process it runs at its own speed (docs/benchmarks.md). The child is the same
``EmbeddedBroker`` class, started by ``python -m facetrove.collector.broker.process``; it stops
on SIGTERM, and dies with its parent: a broker that outlives its collector would go on
acknowledging samples that nobody stores. On Linux the kernel kills it when the parent dies
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``, collector/lifeline.py); elsewhere, and as a fallback, it
watches its parent pid five times a second and exits at once when it changes.
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
from facetrove.collector.lifeline import die_with_parent

log = logging.getLogger("facetrove.broker")
READY = "facetrove-broker-ready"
PARENT_POLL_S = 0.2


class BrokerProcess:
    """``EmbeddedBroker`` in a child process; same ``start()``/``stop()``/``url``."""

    def __init__(
        self,
        host: str,
        port: int,
        password_file: Path,
        *,
        max_packet_bytes: int | None = None,
        registry_db: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.password_file = password_file
        self.max_packet_bytes = max_packet_bytes
        self.registry_db = registry_db
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
               self.host, str(self.port), str(self.password_file), str(os.getpid()),
               str(self.max_packet_bytes or 0), str(self.registry_db or "")]  # fmt: skip
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
    """Child entry point: ``HOST PORT PASSWORD_FILE PARENT_PID MAX_PACKET_BYTES [REGISTRY_DB]``
    (MAX_PACKET_BYTES 0: no limit)."""
    logging.basicConfig(level=logging.CRITICAL)
    host, port, password_file = argv[0], int(argv[1]), Path(argv[2])
    parent, max_packet = int(argv[3]), int(argv[4])
    registry_db = Path(argv[5]) if len(argv) > 5 and argv[5] else None
    die_with_parent(parent)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        broker = EmbeddedBroker(
            host,
            port,
            password_file,
            max_packet_bytes=max_packet or None,
            registry_db=registry_db,
        ).start()
    except EmbeddedBrokerError as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    print(READY, flush=True)
    try:
        while not stop.wait(PARENT_POLL_S):
            if os.getppid() != parent:
                # The collector died without stopping us: no clean shutdown, which would go on
                # serving clients while it closes sessions.
                os._exit(0)
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
