"""`facetrove collector prune`: apply the `retention:` policy to rejected and unreviewed samples."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load, open_existing


def _doomed(
    rows: list[dict[str, Any]], days: float | None, max_mb: float | None, blobs: Any
) -> tuple[list[str], list[str]]:
    """(ids too old, ids over the size limit) of one state's candidates, oldest first."""
    old: list[str] = []
    if days is not None:
        cutoff = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
        old = [r["id"] for r in rows if str(r["received_at"]) < cutoff]
    over: list[str] = []
    if max_mb is not None:
        gone = set(old)
        rest = [r for r in rows if r["id"] not in gone]
        sizes = [sum(_size(blobs, r[k]) for k in ("crop_sha256", "frame_sha256")) for r in rest]
        total, limit = sum(sizes), max_mb * 1024 * 1024
        for r, size in zip(rest, sizes, strict=True):
            if total <= limit:
                break
            over.append(r["id"])
            total -= size
    return old, over


def _size(blobs: Any, sha: str | None) -> int:
    if not sha:
        return 0
    try:
        return int(blobs.path(sha).stat().st_size)
    except OSError:
        return 0


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="print what would be deleted, delete nothing")
@config_option
@data_dir_option
def prune_cmd(dry_run: bool, config_path: Path | None, data_dir: Path | None) -> None:
    """Delete rejected and unreviewed samples past the `retention:` limits (age, then space,
    oldest first), with their image files; confirmed samples and samples of dataset versions
    are never touched. Prints the counts; counters retention.* and an audit entry keep them.

    \b
    Example:
      facetrove collector prune --config collector.yaml --dry-run
    """
    from facetrove.collector.store.blobs import BlobStore
    from facetrove.collector.store.db import StoreError, is_disk_full
    from facetrove.collector.store.forget import delete_unused_files
    from facetrove.collector.store.retention import candidates, prune

    config = load(config_path, data_dir=data_dir)
    r = config.retention
    db = open_existing(config)
    blobs = BlobStore(Path(config.data_dir) / "blobs")
    try:
        doomed: dict[str, list[str]] = {}
        for state, days, max_mb in (
            ("rejected", r.rejected_days, r.rejected_max_mb),
            ("pending", r.pending_days, r.pending_max_mb),
        ):
            old, over = _doomed(candidates(db, state), days, max_mb, blobs)
            doomed[f"{state}_age"], doomed[f"{state}_size"] = old, over
        if dry_run:
            click.echo(json.dumps({k: len(v) for k, v in doomed.items()} | {"dry_run": True}))
            return

        def delete_files(images: list[str]) -> None:  # room on the disk for the next chunk
            delete_unused_files(db, blobs, images)

        try:
            counts, unused = prune(db, doomed, on_chunk=delete_files)
        except StoreError as exc:
            why = "the disk is full" if is_disk_full(exc) else str(exc)
            raise click.ClickException(
                f"prune stopped: {why} ({config.data_dir}); what was deleted before stays "
                "deleted and counted (retention.* in `collector stats`)"
            ) from None
    finally:
        db.close()
    click.echo(json.dumps({k: counts.get(k, 0) for k in doomed} | {"images": len(unused)}))


COMMANDS: list[click.Command] = [prune_cmd]
