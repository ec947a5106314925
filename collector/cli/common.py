"""Options and config loading that every collector command shares."""

from __future__ import annotations

import logging
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import click

from facetrove.collector.config import CollectorConfig, ConfigError, load_config
from facetrove.collector.store.db import Database, StoreError
from facetrove.logs import configure_logging

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="FACETROVE_CONFIG",
    help="YAML config file (sections data_dir, broker, ingest, web); ${ENV} is substituted.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store folder (facetrove.db, blobs/, versions/); overrides data_dir from the config.",
)


class ConfigExit(click.ClickException):
    """A configuration error: exit code 2, as the agent's (the systemd units do not restart a
    service that exits 2: a restart cannot fix its config)."""

    exit_code = 2


def load(config_path: Path | None, **overrides: Any) -> CollectorConfig:
    """The config from ``--config`` with CLI ``overrides``; errors become one-line messages and
    exit code 2."""
    try:
        return load_config(config_path, **overrides)
    except ConfigError as exc:
        raise ConfigExit(str(exc)) from None


broker_option = click.option(
    "--broker",
    "broker_url",
    help="mqtt://user:pass@host:1883 of an external broker; overrides broker.url.",
)


def open_existing(config: CollectorConfig) -> Database:
    """The store of ``config`` for a read-only command; a missing store is a user error."""
    from facetrove.collector.store import DB_NAME, connect
    from facetrove.collector.store.reserve import data_reserve

    path = config.data_dir / DB_NAME
    if not path.exists():
        raise click.ClickException(f"no store at {config.data_dir} ({DB_NAME} not found)")
    reserve = data_reserve(config.data_dir)
    try:
        db = connect(path)
    except (OSError, StoreError) as exc:
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            free = None
        if free is None or free >= 1024 * 1024:
            raise click.ClickException(f"cannot open {path}: {exc}") from None
        # SQLite could not make its WAL or -shm: the reserve gives it room, once.
        try:
            if not reserve.release("opening the store"):
                raise exc
            db = connect(path)
        except (OSError, StoreError) as again:
            raise click.ClickException(
                f"cannot open {path}: the disk is full ({free} bytes free; {again}): free some "
                "space, then try again"
            ) from None
    reserve.ensure()  # (again) while there is room
    return db


def setup_logging(verbose: bool) -> None:
    """Log lines with time and level; ``verbose`` adds debug lines and amqtt's own logs."""
    configure_logging(logging.DEBUG if verbose else logging.INFO)
    # amqtt logs every connection at INFO and a traceback for a start failure that we report
    # in one line ourselves: keep its output for --verbose.
    logging.getLogger("transitions").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("amqtt").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (installed in the main thread)."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        logging.getLogger("facetrove").info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def open_store(config_path: Path | None, data_dir: Path | None) -> Database:
    """The store of the config (created if missing), for commands that write accounts or
    classes before ingest has ever run."""
    from facetrove.collector.store.db import DB_NAME, connect

    config = load(config_path, data_dir=data_dir)
    return connect(Path(config.data_dir) / DB_NAME)
