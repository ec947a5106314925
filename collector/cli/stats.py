"""`facetrove collector stats`: samples by state, ingest counters, devices."""

from __future__ import annotations

from pathlib import Path

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load, open_existing


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
    from facetrove.collector.store.stats import counters, duplicate_count, state_counts

    config = load(config_path, data_dir=data_dir)
    db = open_existing(config)
    console = Console()
    table = Table(title=f"Store {config.data_dir}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for state, n in state_counts(db).items():
        table.add_row(f"samples {state}", str(n))
    table.add_row("samples held back (byte-identical copies)", str(duplicate_count(db)))
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


COMMANDS: list[click.Command] = [stats_cmd]
