"""`facetrove collector forget`: delete everything a device sent, images included, audited."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load, open_existing


def _cutoff(value: str | None) -> str | None:
    """``--before`` as the ISO UTC text samples' ``captured_at`` is compared with."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+00:00])",
            param_hint="--before",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat()


@click.command("forget")
@click.option("--device", "device_id", required=True, help="id of the device to forget")
@click.option("--before", help="only samples captured before this date/time (UTC unless given)")
@click.option(
    "--delete-versions",
    is_flag=True,
    help="also delete the dataset versions that contain its samples (refused without it)",
)
@config_option
@data_dir_option
def forget_cmd(
    device_id: str,
    before: str | None,
    delete_versions: bool,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Delete everything device DEVICE sent: samples, their reviews, their image files (unless
    another device sent the same bytes), its quarantined messages and its device row; with
    --before only samples captured before that time. Writes an audit entry with the counts.
    Its login stays: `device revoke` ends it. Counters (totals of what happened) stay.

    \b
    Example:
      facetrove collector forget --device kitchen-pi --data-dir ./data
      facetrove collector forget --device kitchen-pi --before 2026-01-01 --data-dir ./data
    """
    from facetrove.collector.store.blobs import BlobStore
    from facetrove.collector.store.devices import get_device
    from facetrove.collector.store.forget import device_sample_ids, forget_device, versions_holding
    from facetrove.collector.versions.build import delete_version

    cutoff = _cutoff(before)
    config = load(config_path, data_dir=data_dir)
    db = open_existing(config)
    try:
        ids = device_sample_ids(db, device_id, cutoff)
        if not ids and get_device(db, device_id) is None and cutoff is None:
            raise click.ClickException(f"no device {device_id!r} and no samples from it")
        held = versions_holding(db, ids)
        if held and not delete_versions:
            raise click.ClickException(
                f"versions {', '.join(held)} contain samples of {device_id}: nothing deleted; "
                "add --delete-versions to delete those versions too"
            )
        for version_id in held:
            delete_version(Path(config.data_dir), db, version_id)
        done = forget_device(db, device_id, cutoff)
        blobs = BlobStore(Path(config.data_dir) / "blobs")
        for sha in done.unused_images:
            blobs.path(sha).unlink(missing_ok=True)
    finally:
        db.close()
    summary = done.summary() | {"versions_deleted": held}
    click.echo(json.dumps(summary))


COMMANDS: list[click.Command] = [forget_cmd]
