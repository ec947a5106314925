"""`facetrove collector export`: a version in a format that training code reads."""

from __future__ import annotations

from pathlib import Path

import click

from facetrove.collector.cli.common import config_option, data_dir_option
from facetrove.collector.cli.versions import version_row, versions_config, versions_store


@click.command("export")
@click.argument("version_id")
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(["coco", "yolo", "voc", "createml", "tf-csv", "csv", "folder", "yolo-cls"]),
    help="Output format (detection: coco yolo voc createml tf-csv; classification: csv folder"
    " yolo-cls).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Output folder (or .zip file with --zip); default data_dir/exports/<version>-<format>.",
)
@click.option("--zip", "as_zip", is_flag=True, help="Write one reproducible zip file.")
@config_option
@data_dir_option
def export_cmd(
    version_id: str,
    fmt: str,
    out: Path | None,
    as_zip: bool,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Export a version in a format that training code reads.

    Examples:

      facetrove collector export emotions-v1 --format coco --out ./coco

      facetrove collector export emotions-v1 --format yolo --zip
    """
    from facetrove.collector.export.base import ExportError
    from facetrove.collector.export.registry import export_version

    config = versions_config(config_path, data_dir)
    row = version_row(versions_store(config), version_id)
    if row["status"] != "ready":
        raise click.ClickException(f"version {version_id} is {row['status']}, not ready")
    if out is None:
        out = Path(config.data_dir) / "exports" / f"{version_id}-{fmt}{'.zip' if as_zip else ''}"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = export_version(Path(row["path"]), fmt, out, as_zip=as_zip)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {fmt} export of {version_id} to {written}")


COMMANDS: list[click.Command] = [export_cmd]
