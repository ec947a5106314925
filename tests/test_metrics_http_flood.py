"""The metrics port against connections that never send a request (issue-14 audit): each one
held a thread of the agent for ever (a real agent on 0.0.0.0 had 216 threads after 30 s of a
second host opening idle connections, and would have had as many as the host opened; under
systemd's task limit its own threads could then no longer start). Now at most
``MAX_CONNECTIONS`` are served at once and an idle one is closed after ``IDLE_TIMEOUT_S``."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from facetrove import metrics_http
from facetrove.metrics_http import MetricsServer
from tests.support.metrics import scrape
from tests.test_metrics_http import _registry


def test_idle_connections_take_a_bounded_number_of_threads_and_are_closed(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(metrics_http, "IDLE_TIMEOUT_S", 2.0)
    before = threading.active_count()
    server = MetricsServer(_registry(), "127.0.0.1", 0)
    idle: list[socket.socket] = []
    try:
        for _ in range(80):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
        time.sleep(0.5)  # let the server accept what it will
        assert threading.active_count() - before <= metrics_http.MAX_CONNECTIONS + 2
        # The server closes every idle connection: each read ends (b"" or a reset).
        for s in idle:
            s.settimeout(60)
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(1) == b""
        assert scrape(server.port)[("facetrove_test_up", ())] == 1  # and serves again
        # A connection that timed out is not a traceback on stderr (the agent's log).
        assert "Traceback" not in capfd.readouterr().err
    finally:
        for s in idle:
            s.close()
        server.close()
