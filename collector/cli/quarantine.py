"""`facetrove collector quarantine`: rejected messages and their count per reason."""

from __future__ import annotations

from pathlib import Path

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load, open_existing


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
    db = open_existing(config)
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


COMMANDS: list[click.Command] = [quarantine_cmd]
