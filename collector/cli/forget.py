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
    try:
        return when.astimezone(timezone.utc).isoformat()
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise click.BadParameter(
            f"{value!r} is out of range: in UTC it falls outside the years 1 to 9999",
            param_hint="--before",
        ) from None


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
    from facetrove.collector.store.device_logins import active_hash, list_logins
    from facetrove.collector.store.devices import get_device
    from facetrove.collector.store.forget import (
        delete_unused_files,
        device_sample_ids,
        forget_device,
        versions_holding,
    )
    from facetrove.collector.versions.build import delete_version

    cutoff = _cutoff(before)
    config = load(config_path, data_dir=data_dir)
    db = open_existing(config)
    try:
        ids = device_sample_ids(db, device_id, cutoff)
        known = get_device(db, device_id) is not None or device_sample_ids(db, device_id)
        if not known and device_id not in {login.device_id for login in list_logins(db)}:
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
        delete_unused_files(db, BlobStore(Path(config.data_dir) / "blobs"), done.unused_images)
        still_in = active_hash(db, device_id) is not None
    finally:
        db.close()
    summary = done.summary() | {"versions_deleted": held}
    click.echo(json.dumps(summary))
    if still_in:
        click.echo(
            f"warning: {device_id} can still log in: what its agent sends from now on is stored "
            f"again. Stop it with `facetrove collector device revoke {device_id}` (then forget "
            "once more for what arrived meanwhile).",
            err=True,
        )


COMMANDS: list[click.Command] = [forget_cmd]
