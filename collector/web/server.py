"""Serving the web app with waitress until a stop event is set."""

from __future__ import annotations

import logging
import threading

from waitress.server import create_server

from collector.config import CollectorConfig
from collector.web import create_app, web_config

log = logging.getLogger(__name__)


def run_web(config: CollectorConfig, stop_event: threading.Event, app: object = None) -> None:
    """Serve the review app on ``web.host:web.port`` until ``stop_event`` is set.

    waitress is a production WSGI server (no Flask dev server); it runs in a thread of its own
    here so that the caller's thread only waits for the stop event.
    """
    web = web_config(config)
    wsgi = app or create_app(config)
    server = create_server(
        wsgi, host=web.host, port=web.port, threads=web.threads, ident="facetrove"
    )
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    log.info("review web app on http://%s:%s/", web.host, server.effective_port)
    try:
        stop_event.wait()
    finally:
        server.close()
        thread.join(10)
        publisher = getattr(wsgi, "extensions", {}).get("facetrove.publisher")
        close = getattr(publisher, "close", None)
        if callable(close):
            close()
