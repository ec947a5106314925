"""Collector commands for ingest and storage: ingest, serve, backup, quarantine, stats."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load
from facetrove.collector.config import CollectorConfig
from facetrove.collector.store.db import Database, StoreError

_broker_option = click.option(
    "--broker",
    "broker_url",
    help="mqtt://user:pass@host:1883 of an external broker; overrides broker.url.",
)


def _open_existing(config: CollectorConfig) -> Database:
    """The store of ``config`` for a read-only command; a missing store is a user error."""
    from facetrove.collector.store import DB_NAME, connect

    path = config.data_dir / DB_NAME
    if not path.exists():
        raise click.ClickException(f"no store at {config.data_dir} ({DB_NAME} not found)")
    try:
        return connect(path)
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"cannot open {path}: {exc}") from None


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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


@click.command("ingest")
@config_option
@data_dir_option
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
      facetrove collector ingest --shared-group ingest --client-id facetrove-ingest-2 \
        --config c.yaml
    """
    from facetrove.collector.ingest.worker import IngestWorker

    config = load(
        config_path,
        data_dir=data_dir,
        **{
            "broker.url": broker_url,
            "ingest.shared_group": shared_group,
            "ingest.client_id": client_id,
        },
    )
    _logging(verbose)
    try:
        IngestWorker(config).run(stop_on_signals())
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"cannot use the store in {config.data_dir}: {exc}") from None


@click.command("quarantine")
@config_option
@data_dir_option
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

    from facetrove.collector.ingest.validate import EXTRA_REASONS
    from facetrove.collector.store.quarantine import list_quarantine, rejection_counts
    from facetrove.wire import REASONS

    known = (*REASONS, *EXTRA_REASONS)
    if reason is not None and reason not in known:
        # A typo (device-mismatch) would otherwise show an empty table: "no rejections".
        raise click.BadParameter(
            f"{reason!r} is not a reason; one of: {', '.join(known)}", param_hint="--reason"
        )
    config = load(config_path, data_dir=data_dir)
    db = _open_existing(config)
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
@config_option
@data_dir_option
def stats_cmd(config_path: Path | None, data_dir: Path | None) -> None:
    """Counts of the store: samples by state, devices, ingest counters.

    \b
    Example:
      facetrove collector stats --data-dir ./data
    """
    from rich.console import Console
    from rich.table import Table

    from facetrove.collector.store.devices import list_devices
    from facetrove.collector.store.stats import counters, state_counts

    config = load(config_path, data_dir=data_dir)
    db = _open_existing(config)
    console = Console()
    table = Table(title=f"Store {config.data_dir}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for state, n in state_counts(db).items():
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


@click.command("serve")
@config_option
@data_dir_option
@_broker_option
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
    agent's username and password are printed. Ctrl-C (or SIGTERM) stops the web app, flushes
    ingest and stops the broker.

    \b
    Example:
      facetrove collector serve --data-dir ./data
      facetrove collector serve --broker mqtt://collector:PW@mqtt.lan:1883 --host 0.0.0.0
    """
    from facetrove.collector.broker import EmbeddedBrokerError
    from facetrove.collector.ingest.serve import check, serve

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
    _logging(verbose)
    try:
        check(config)
        serve(config, stop_on_signals(), lambda line: click.echo(line, err=True))
    except EmbeddedBrokerError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"cannot use the store in {config.data_dir}: {exc}") from None


@click.command("backup")
@config_option
@data_dir_option
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup_cmd(config_path: Path | None, data_dir: Path | None, dest: Path) -> None:
    """Copy the store (database + images) to the new folder DEST while ingest runs.

    The database is copied with SQLite's online backup (one consistent instant); every image
    it references is copied and its sha256 checked. To restore, stop the collector and use DEST
    as the data folder (see docs/collector.md, Backups).

    \b
    Example:
      facetrove collector backup --data-dir ./data /mnt/backup/facetrove-2026-11-24
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from facetrove.collector.store.backup import BackupError, backup

    config = load(config_path, data_dir=data_dir)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            result = backup(config.data_dir, dest, progress)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"backup in {result.dest}: {result.samples} samples, {result.blobs} images "
        f"({result.bytes / 1e6:.1f} MB), all sha256 verified"
    )


COMMANDS: list[click.Command] = [ingest_cmd, serve_cmd, backup_cmd, quarantine_cmd, stats_cmd]
