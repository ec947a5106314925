"""Running real ingest processes and a real paho publisher in collector tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facetrove.collector.store import DB_NAME, connect
from facetrove.wire import Kind, topic

FACETROVE = str(Path(sys.executable).with_name("facetrove"))


class IngestProcess:
    """``facetrove collector ingest`` in a subprocess, logging to a file."""

    def __init__(self, data_dir: Path, broker_url: str, *extra: str, name: str = "ingest") -> None:
        self.data_dir = data_dir
        self.args = [
            FACETROVE,
            "collector",
            "ingest",
            "--data-dir",
            str(data_dir),
            "--broker",
            broker_url,
            *extra,
        ]
        self.log = data_dir.parent / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 20.0) -> IngestProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        out = open(self.log, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=out)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            # A restart finds its session (and subscription) on the broker, which sends the
            # queued samples before the SUBACK: under load the SUBACK comes tens of seconds later.
            if "subscribed" in text or "session present: True" in text:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"ingest exited {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"ingest did not subscribe:\n{self.log.read_text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no flush, no clean disconnect."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait: a clean stop flushes and disconnects."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


class Publisher:
    """A paho client publishing QoS 1 like an agent would (persistent session, own id)."""

    def __init__(
        self,
        port: int,
        client_id: str = "test-publisher",
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.acked = 0
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.connected = threading.Event()
        self.refused: str | None = None
        self.client.on_connect = self._on_connect
        self.client.connect_async("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + 10
        while not self.connected.wait(0.05):
            if self.refused or time.monotonic() > deadline:
                self.client.loop_stop()
                raise ConnectionRefusedError(f"publisher not connected: {self.refused}")

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            self.refused = str(reason)
            self.client.disconnect()
        else:
            self.connected.set()

    def _on_publish(self, *_args: object) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, device_id: str, payload: bytes, kind: Kind = Kind.SAMPLE) -> None:
        self.client.publish(topic(device_id, kind), payload, qos=kind.qos)

    def publish_raw(self, name: str, payload: bytes, qos: int = 1) -> None:
        self.client.publish(name, payload, qos=qos)

    def wait_acked(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker acknowledged {self.acked} of {n} publishes")
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_rows(data_dir: Path, n: int, timeout: float = 120.0, table: str = "samples") -> int:
    """Wait until ``table`` holds ``n`` rows; return the count seen last."""
    db = connect(data_dir / DB_NAME)
    try:
        deadline = time.monotonic() + timeout
        count = 0
        while time.monotonic() < deadline:
            count = int(db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            if count >= n:
                return count
            time.sleep(0.2)
        return count
    finally:
        db.close()


def counter_sum(data_dir: Path, names: Iterable[str]) -> int:
    db = connect(data_dir / DB_NAME)
    try:
        total = 0
        for name in names:
            row = db.conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            total += int(row[0]) if row else 0
        return total
    finally:
        db.close()
