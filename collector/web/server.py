"""Serving the web app with waitress until a stop event is set."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from waitress.server import create_server

from facetrove.collector.config import CollectorConfig
from facetrove.collector.web import create_app, web_config

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
QUEUE_LOG_INTERVAL_S = 60.0


class QueueDepthSummary(logging.Filter):
    """One line a minute at most instead of waitress's "Task queue depth is N" per request.

    A queue page loads 24 crops at once, more than ``web.threads``: requests wait a moment,
    which is normal, and one warning per request filled the log.
    """

    def __init__(self, interval_s: float = QUEUE_LOG_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last = float("-inf")
        self._deepest = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        depth = args[0] if args and isinstance(args[0], int) else 0
        now = time.monotonic()
        with self._lock:
            self._deepest = max(self._deepest, depth)
            if now - self._last < self.interval_s:
                return False
            self._last, deepest, self._deepest = now, self._deepest, 0
        record.msg = (
            "requests are waiting for a free worker thread (up to %d queued); normal in bursts, "
            "raise web.threads if pages load slowly"
        )
        record.args = (deepest,)
        return True


def _summarise_queue_warnings() -> None:
    queue_log = logging.getLogger("waitress.queue")
    if not any(isinstance(f, QueueDepthSummary) for f in queue_log.filters):
        queue_log.addFilter(QueueDepthSummary())


def bind_web(config: CollectorConfig, app: Any = None) -> Any:
    """The waitress server of the review app, bound to ``web.host:web.port`` (not serving yet:
    :func:`run_web` runs it). Binding first lets a command refuse a taken port in one line
    before it announces anything.

    Raises:
        OSError: the address cannot be bound (port in use, no permission).
    """
    web = web_config(config)
    return create_server(
        app or create_app(config), host=web.host, port=web.port, threads=web.threads,
        ident="facetrove",
    )  # fmt: skip


def run_web(
    config: CollectorConfig, stop_event: threading.Event, app: Any = None, server: Any = None
) -> None:
    """Serve the review app on ``web.host:web.port`` (or the ``server`` of :func:`bind_web`)
    until ``stop_event`` is set.

    waitress is a production WSGI server (not Flask's dev server). Its event loop runs here, in
    the caller's thread, a short poll at a time, so that stopping closes the sockets from the
    same thread that uses them (closing them from another thread races with the loop).

    Raises:
        OSError: the address cannot be bound (port in use, no permission).
    """
    web = web_config(config)
    _summarise_queue_warnings()
    if server is None:
        server = bind_web(config, app)
    wsgi = server.application
    log.info("review web app on http://%s:%s/", web.host, server.effective_port)
    try:
        while not stop_event.is_set():
            server.asyncore.loop(
                timeout=POLL_SECONDS,
                map=server._map,
                use_poll=server.adj.asyncore_use_poll,
                count=1,
            )
    finally:
        for channel in list(server._map.values()):
            if channel is not server:
                channel.close()
        server.close()
        server.task_dispatcher.shutdown()
        publisher = getattr(wsgi, "extensions", {}).get("facetrove.publisher")
        close = getattr(publisher, "close", None)
        if callable(close):
            close()
        log.info("review web app stopped")
