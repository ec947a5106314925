"""Prometheus metrics on a port of their own: the agent's (``metrics.port``) and a standalone
``collector ingest``'s (``ingest.metrics_port``). Shared by both sides, like ``logs.py``.

One rule for who may scrape, the collector web app's ``/metrics`` rule too: with a token set, a
scrape must send ``Authorization: Bearer <token>`` (loopback alone is not enough); without one,
only clients on this machine (loopback) get an answer, 403 for every other address. Only the
path ``/metrics`` answers (404 otherwise). The server is a small threaded WSGI server from the
standard library in a daemon thread; nothing but scrapes reaches it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

_StartResponse = Callable[..., Any]
log = logging.getLogger(__name__)


def scrape_allowed(token: str | None, authorization: str, remote_addr: str) -> bool:
    """Whether a scrape may read the metrics (see the module docstring)."""
    if token:
        return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(remote_addr).is_loopback
    except ValueError:
        return False


def metrics_app(
    registry: CollectorRegistry, token: str | None = None
) -> Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]:
    """A WSGI app answering ``GET /metrics`` with ``registry`` in Prometheus text format."""

    def app(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            status, body, kind = "404 Not Found", b"only /metrics here\n", "text/plain"
        elif not scrape_allowed(
            token, environ.get("HTTP_AUTHORIZATION", ""), environ.get("REMOTE_ADDR", "")
        ):
            status, body, kind = "403 Forbidden", b"forbidden\n", "text/plain"
        else:
            status, body, kind = "200 OK", generate_latest(registry), CONTENT_TYPE_LATEST
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    return app


#: Connections served at once (a scrape takes one for a few milliseconds); more are closed at
#: once. And how long a connection may stay silent. Without both, every connection that never
#: sent its request held a thread for ever: a host on the network could grow the agent's threads
#: without bound (and under systemd's task limit stop the agent's own threads from starting).
MAX_CONNECTIONS = 16
IDLE_TIMEOUT_S = 10.0


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # too many at once: closed, no thread
            return
        try:
            request.settimeout(IDLE_TIMEOUT_S)
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver printed a traceback to stderr for each connection that timed out or was
        # reset: one debug line instead (stderr is the log, JSON lines included).
        log.debug("metrics connection from %s ended: %s", client_address[0], sys.exc_info()[1])


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the agent's log


class MetricsServer:
    """``registry`` served on ``host:port`` until :meth:`close`.

    Raises:
        OSError: the address cannot be bound (port in use, no such address).
    """

    def __init__(
        self, registry: CollectorRegistry, host: str, port: int, token: str | None = None
    ) -> None:
        server_class = _Server6 if ":" in host else _Server
        self._httpd = make_server(
            host, port, metrics_app(registry, token), server_class, handler_class=_Quiet
        )
        self.host, self.port = host, int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics-http", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Where to scrape."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop answering and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
