"""`facetrove collector backup`: a consistent copy of the store while ingest runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load


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


COMMANDS: list[click.Command] = [backup_cmd]
