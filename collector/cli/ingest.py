"""Collector commands for ingest and storage: ingest, serve, backup, quarantine, stats."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from collector.config import CollectorConfig, ConfigError, load_config

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="FACETROVE_CONFIG",
    help="YAML config file (sections data_dir, broker, ingest, web); ${ENV} is substituted.",
)
_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store folder (facetrove.db + blobs/); overrides data_dir from the config.",
)
_broker_option = click.option(
    "--broker",
    "broker_url",
    help="mqtt://user:pass@host:1883 of an external broker; overrides broker.url.",
)


def _load(config_path: Path | None, **overrides: Any) -> CollectorConfig:
    try:
        return load_config(config_path, **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (installed in the main thread)."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        logging.getLogger("facetrove").info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


@click.command("ingest")
@_config_option
@_data_dir_option
@_broker_option
@click.option("--shared-group", help="Join the shared subscription $share/NAME/... with others.")
@click.option("--client-id", help="Stable MQTT client id (one per ingest process).")
@click.option("-v", "--verbose", is_flag=True, help="Log every rejected message.")
def ingest_cmd(
    config_path: Path | None,
    data_dir: Path | None,
    broker_url: str | None,
    shared_group: str | None,
    client_id: str | None,
    verbose: bool,
) -> None:
    """Take samples, status and stats off the broker into the store.

    Each sample is acknowledged to the broker only after its image and row are on disk, so
    killing this process loses nothing: the broker redelivers to the same client id.

    \b
    Example:
      facetrove collector ingest --data-dir ./data --broker mqtt://collector:PW@mqtt.lan:1883
      facetrove collector ingest --shared-group ingest --client-id ingest-2 --config c.yaml
    """
    from collector.ingest.worker import IngestWorker

    config = _load(
        config_path,
        data_dir=data_dir,
        **{
            "broker.url": broker_url,
            "ingest.shared_group": shared_group,
            "ingest.client_id": client_id,
        },
    )
    _logging(verbose)
    IngestWorker(config).run(stop_on_signals())


@click.command("quarantine")
@_config_option
@_data_dir_option
@click.option("--reason", help="Only this reason (e.g. schema, device_mismatch).")
@click.option("--limit", default=20, show_default=True, help="How many rows to show.")
def quarantine_cmd(
    config_path: Path | None, data_dir: Path | None, reason: str | None, limit: int
) -> None:
    """List rejected messages (newest first) and the exact count per reason.

    \b
    Example:
      facetrove collector quarantine --data-dir ./data --reason device_mismatch
    """
    from rich.console import Console
    from rich.table import Table

    from collector.ingest.quarantine import list_quarantine, rejection_counts
    from collector.store import DB_NAME, connect

    config = _load(config_path, data_dir=data_dir)
    db = connect(config.data_dir / DB_NAME)
    console = Console()
    counts = rejection_counts(db)
    summary = Table(title="Rejected messages by reason (all time)")
    summary.add_column("reason")
    summary.add_column("count", justify="right")
    for name, n in counts.items():
        summary.add_row(name, str(n))
    console.print(summary)
    rows = list_quarantine(db, limit=limit, reason=reason)
    table = Table(title=f"Last {len(rows)} quarantined")
    for col in ("id", "received_at", "topic", "reason", "detail", "bytes", "head"):
        table.add_column(col, overflow="fold")
    for r in rows:
        head = bytes(r["payload_head"] or b"")[:24]
        table.add_row(
            str(r["id"]),
            r["received_at"],
            r["topic"],
            r["reason"],
            (r["detail"] or "")[:120],
            str(r["payload_len"]),
            head.hex(),
        )
    console.print(table)
    db.close()


@click.command("stats")
@_config_option
@_data_dir_option
def stats_cmd(config_path: Path | None, data_dir: Path | None) -> None:
    """Counts of the store: samples by state, devices, ingest counters.

    \b
    Example:
      facetrove collector stats --data-dir ./data
    """
    from rich.console import Console
    from rich.table import Table

    from collector.ingest.devices import list_devices
    from collector.store import DB_NAME, connect
    from collector.store.samples import counters

    config = _load(config_path, data_dir=data_dir)
    db = connect(config.data_dir / DB_NAME)
    console = Console()
    table = Table(title=f"Store {config.data_dir}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for state, n in db.conn.execute(
        "SELECT state, COUNT(*) FROM samples GROUP BY state ORDER BY state"
    ).fetchall():
        table.add_row(f"samples {state}", str(n))
    for name, n in counters(db).items():
        table.add_row(name, str(n))
    console.print(table)
    devices = Table(title="Devices")
    cols = ("id", "state", "last_seen", "software", "model_id", "samples")
    for col in cols:
        devices.add_column(col)
    for d in list_devices(db):
        devices.add_row(*("" if d.get(c) is None else str(d[c]) for c in cols))
    console.print(devices)
    db.close()


COMMANDS: list[click.Command] = [ingest_cmd, quarantine_cmd, stats_cmd]
