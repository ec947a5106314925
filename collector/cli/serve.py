"""`facetrove collector serve`: broker, ingest and the web app in one process."""

from __future__ import annotations

from pathlib import Path

import click

from facetrove.collector.cli.common import (
    broker_option,
    config_option,
    data_dir_option,
    load,
    setup_logging,
    stop_on_signals,
)
from facetrove.collector.store.db import StoreError
from facetrove.logs import say


@click.command("serve")
@config_option
@data_dir_option
@broker_option
@click.option("--broker-host", help="Embedded broker bind address (default 127.0.0.1).")
@click.option("--broker-port", type=int, help="Embedded broker port (default 1883).")
@click.option("--host", help="Web app bind address (default 127.0.0.1).")
@click.option("--port", type=int, help="Web app port (default 8080).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def serve_cmd(
    config_path: Path | None,
    data_dir: Path | None,
    broker_url: str | None,
    broker_host: str | None,
    broker_port: int | None,
    host: str | None,
    port: int | None,
    verbose: bool,
) -> None:
    """Run the whole collector: broker (embedded unless --broker), ingest and the web app.

    With no broker configured an embedded MQTT 3.1.1 broker starts on 127.0.0.1:1883 and the
    `device add` command that gives each device its own login is printed. Ctrl-C (or SIGTERM)
    stops the web app, flushes ingest and stops the broker.

    \b
    Example:
      facetrove collector serve --data-dir ./data
      facetrove collector serve --broker mqtt://collector:PW@mqtt.lan:1883 --host 0.0.0.0
    """
    from facetrove.collector.broker import EmbeddedBrokerError
    from facetrove.collector.serve import ServeError, check, serve

    config = load(
        config_path,
        data_dir=data_dir,
        **{
            "broker.url": broker_url,
            "broker.embedded_host": broker_host,
            "broker.embedded_port": broker_port,
            "web.host": host,
            "web.port": port,
        },
    )
    setup_logging(verbose)
    try:
        check(config)
        serve(config, stop_on_signals(), say)
    except (EmbeddedBrokerError, ServeError) as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"cannot use the store in {config.data_dir}: {exc}") from None


COMMANDS: list[click.Command] = [serve_cmd]
