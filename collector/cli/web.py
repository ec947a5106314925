"""`facetrove collector web`: the review web app alone."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load
from facetrove.logs import configure_logging


@click.command("web")
@config_option
@data_dir_option
@click.option("--host", help="Address to listen on; overrides web.host.")
@click.option("--port", type=int, help="Port to listen on; overrides web.port.")
def web_cmd(
    config_path: Path | None, data_dir: Path | None, host: str | None, port: int | None
) -> None:
    """Run only the review web app (ingest and broker run elsewhere).

    Example: facetrove collector web --data-dir ./facetrove-data --port 8080
    """
    from facetrove.collector.web.server import bind_web, run_web

    config = load(config_path, data_dir=data_dir, **{"web.host": host, "web.port": port})
    configure_logging(logging.INFO)
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        server = bind_web(config)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {config.web.host}:{config.web.port}: {exc.strerror or exc}"
        ) from None
    click.echo(f"review web app on http://{config.web.host}:{config.web.port}/ (Ctrl-C stops)")
    run_web(config, stop, server=server)


COMMANDS: list[click.Command] = [web_cmd]
