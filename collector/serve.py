"""`facetrove collector serve`: embedded broker (unless one is configured), ingest, web app.

Start order is broker, ingest, web; stop order is the reverse (web, flush ingest, broker), so
nothing that ingest received is left unacknowledged by a clean stop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from facetrove.collector.broker import (
    BrokerProcess,
    EmbeddedBroker,
    EmbeddedBrokerError,
    ensure_credentials,
)
from facetrove.collector.config import CollectorConfig
from facetrove.collector.ingest.worker import IngestWorker
from facetrove.collector.store import DB_NAME
from facetrove.collector.store.integrity import check_store
from facetrove.collector.store.private import PRIVATE_UMASK, make_private
from facetrove.collector.store.reserve import data_reserve

log = logging.getLogger("facetrove.serve")
PUBLISH_OVERHEAD = 1024


def check(config: CollectorConfig) -> None:
    """Refuse settings that cannot work together before anything starts.

    Raises:
        EmbeddedBrokerError: a shared subscription group with the embedded broker.
    """
    if config.broker.url is None and config.ingest.shared_group:
        raise EmbeddedBrokerError(
            "ingest.shared_group needs a broker with shared subscriptions (Mosquitto 2, "
            "EMQX, ...): the embedded broker has none; set broker.url or drop shared_group"
        )


def serve(config: CollectorConfig, stop: threading.Event, echo: Callable[[str], None]) -> None:
    """Run everything until ``stop`` is set, then shut down cleanly.

    Raises:
        DamagedStore: the store fails its integrity check (nothing was started).
    """
    check(config)
    # Faces, the store and credentials are for the service user only (existing stores too).
    os.umask(PRIVATE_UMASK)
    fixed = make_private(config.data_dir)
    if fixed:
        echo(f"data folder: made {fixed} file(s) and folder(s) private to this user")
    # A damaged store is refused (DamagedStore) before the broker accepts any sample.
    check_store(config.data_dir / DB_NAME)
    data_reserve(config.data_dir).ensure()  # room for `prune` on a disk that fills up
    kind: type[EmbeddedBroker] | type[BrokerProcess] | None = None
    if config.broker.url is None:
        b = config.broker
        creds = ensure_credentials(config.data_dir, (b.username,))
        kind = EmbeddedBroker if b.embedded_in_process else BrokerProcess
        config = config.model_copy(
            update={"broker": b.model_copy(update={"password": creds.password(b.username)})}
        )
    app, web_server = _bind_web(config)  # a taken port: one line, before anything starts
    broker: EmbeddedBroker | BrokerProcess | None = None
    threads: list[tuple[str, threading.Thread, threading.Event]] = []
    try:
        if kind is not None:
            b = config.broker
            # The broker refuses what ingest would refuse as too_large before anyone reads it;
            # 1 KiB more for the topic and packet id of a PUBLISH.
            broker = kind(
                b.embedded_host,
                b.embedded_port,
                creds.password_file,
                max_packet_bytes=config.ingest.max_payload_bytes + PUBLISH_OVERHEAD,
                registry_db=config.data_dir / DB_NAME,  # migrated by open_checked above
            ).start()
            echo(f"MQTT broker (embedded, MQTT 3.1.1): {broker.url}")
            echo("  every device has its own login; create one and paste what it prints into the")
            echo(f"  agent's config: {_device_add_hint(config)}")
        else:
            echo(f"MQTT broker (external): {_redact(config.broker.url)}")

        ingest_stop = threading.Event()
        worker = IngestWorker(config, store_checked=True)
        ingest = threading.Thread(target=worker.run, args=(ingest_stop,), name="ingest")
        ingest.start()
        threads.append(("ingest", ingest, ingest_stop))
        if not worker.subscribed.wait(15):
            log.warning("ingest has not subscribed yet; it keeps retrying the broker")
        echo(f"ingest: store {config.data_dir}")

        if app is not None:
            from facetrove.collector.web.metrics import INGEST_EXTENSION
            from facetrove.collector.web.server import run_web

            web_stop = threading.Event()
            app.extensions[INGEST_EXTENSION] = worker  # receipts and queue figures on /metrics
            web = threading.Thread(
                target=run_web, args=(config, web_stop, app, web_server), name="web"
            )
            web.start()
            web_server = None  # the web thread owns it now
            threads.append(("web", web, web_stop))
            echo(f"web app: http://{_reachable(config.web.host)}:{config.web.port}/")
        echo("running; Ctrl-C to stop")
        dead: list[str] = []
        while not dead and not stop.wait(0.5):
            dead = [name for name, thread, _ in threads if not thread.is_alive()]
        if dead:
            log.error("%s stopped unexpectedly; shutting down", ", ".join(dead))
    finally:
        if web_server is not None:
            web_server.close()
        for name, thread, event in reversed(threads):
            log.info("stopping %s", name)
            event.set()
            thread.join(30)
        if broker is not None:
            broker.stop()
        echo("stopped")
    if dead:  # a failure, not a stop: exit 1, so that systemd's Restart=on-failure restarts it
        raise ServeError(f"{', '.join(dead)} stopped unexpectedly (see the log above)")


class ServeError(RuntimeError):
    """The collector cannot start (a taken web port) or a part of it stopped by itself."""


def _bind_web(config: CollectorConfig) -> tuple[Any, Any]:
    """The web app and its bound server, or (None, None) when the web extra is missing.

    Raises:
        ServeError: the web app's address cannot be bound.
    """
    try:
        from facetrove.collector.web import create_app
        from facetrove.collector.web.server import bind_web
    except ImportError as exc:
        log.warning("the web UI is not available (%s); running broker and ingest only", exc)
        return None, None
    app = create_app(config)
    try:
        return app, bind_web(config, app)
    except OSError as exc:
        w = config.web
        raise ServeError(f"cannot listen on {w.host}:{w.port}: {exc.strerror or exc}") from None


def _device_add_hint(config: CollectorConfig) -> str:
    """The `device add` command line that prints this collector's addresses."""
    b, w = config.broker, config.web
    hint = f"facetrove collector device add NAME --data-dir {config.data_dir}"
    defaults = type(b)()
    if (b.embedded_host, b.embedded_port) != (defaults.embedded_host, defaults.embedded_port):
        hint += f" --broker-url mqtt://{_reachable(b.embedded_host)}:{b.embedded_port}"
    if w.public_url is None and (w.host, w.port) != (type(w)().host, type(w)().port):
        hint += f" --collector-url http://{_reachable(w.host)}:{w.port}"
    return hint


def _reachable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _redact(url: str | None) -> str:
    if not url or "@" not in url:
        return str(url)
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
