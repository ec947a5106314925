"""`facetrove collector version ...`: dataset versions (create, list, show, delete)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from facetrove.collector.cli.common import config_option, data_dir_option, load
from facetrove.collector.config import CollectorConfig
from facetrove.collector.store import versions as version_rows
from facetrove.collector.store.db import Database


def versions_config(config_path: Path | None, data_dir: Path | None) -> CollectorConfig:
    return load(config_path, data_dir=data_dir)


def versions_store(config: CollectorConfig) -> Database:
    from facetrove.collector.store.db import DB_NAME, connect

    path = Path(config.data_dir) / DB_NAME
    if not path.exists():
        raise click.ClickException(f"no store at {path}: run ingest first or pass --data-dir")
    return connect(path)


def version_row(db: Database, version_id: str) -> dict[str, Any]:
    row = version_rows.get_version(db, version_id)
    if row is None:
        known = version_rows.version_ids(db)
        raise click.ClickException(
            f"no version {version_id!r} (known: {', '.join(known) or 'none yet'})"
        )
    return row


@click.group("version")
def version_group() -> None:
    """Dataset versions: immutable, reproducible snapshots of the confirmed samples."""


@version_group.command("create")
@click.option(
    "--recipe",
    "recipe_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Recipe YAML (classes, split, preprocess, augmentations); see docs/versions.md.",
)
@click.option("--name", help="Version id (lower case, digits, . _ -); default: recipe name or vN.")
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Worker processes (default: all cores)."
)
@config_option
@data_dir_option
def create_cmd(
    recipe_path: Path,
    name: str | None,
    workers: int | None,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Build a version from a recipe: split, preprocess, augment, write images and the card.

    The recipe is checked completely before any work starts.

    Example:

      facetrove collector version create --recipe deploy/recipe.example.yaml --name emotions-v1
    """
    from facetrove.collector.versions.build import VersionError, create_version
    from facetrove.collector.versions.recipe import RecipeError

    config = versions_config(config_path, data_dir)
    db = versions_store(config)
    try:
        built = create_version(
            Path(config.data_dir), db, recipe_path.read_text(encoding="utf-8"),
            name=name, workers=workers,
        )  # fmt: skip
    except RecipeError as exc:
        raise click.ClickException(f"bad recipe {recipe_path}:\n{exc}") from None
    except VersionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"version {built.id}: {built.samples} samples, {built.images} images in {built.path}"
    )


@version_group.command("list")
@config_option
@data_dir_option
def list_cmd(config_path: Path | None, data_dir: Path | None) -> None:
    """List versions with their sample counts and status.

    Example:

      facetrove collector version list --data-dir ./data
    """
    db = versions_store(versions_config(config_path, data_dir))
    table = Table(title="Dataset versions")
    for col in ("id", "created", "samples", "status", "train/valid/test"):
        table.add_column(col)
    for r in version_rows.list_versions(db):
        counts = ""
        if r["card"]:
            card = json.loads(r["card"])
            counts = "/".join(str(sum(card["counts"][s].values())) for s in card["counts"])
        table.add_row(r["id"], r["created_at"], str(r["samples"]), r["status"], counts)
    Console().print(table)


@version_group.command("delete")
@click.argument("version_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
@data_dir_option
def delete_cmd(version_id: str, yes: bool, config_path: Path | None, data_dir: Path | None) -> None:
    """Delete a version (folder, rows, cached zips); for failed or stale builds. Samples stay.

    Example:

      facetrove collector version delete v3 --yes
    """
    from facetrove.collector.versions.build import VersionError, delete_version

    config = versions_config(config_path, data_dir)
    db = versions_store(config)
    version_row(db, version_id)
    if not yes:
        click.confirm(f"Delete version {version_id} and its files?", abort=True)
    try:
        delete_version(Path(config.data_dir), db, version_id)
    except VersionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted version {version_id}")


@version_group.command("show")
@click.argument("version_id")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON instead.")
@config_option
@data_dir_option
def show_cmd(
    version_id: str, as_json: bool, config_path: Path | None, data_dir: Path | None
) -> None:
    """Print a version's card: counts, devices, dates, pre-label accuracy, leakage, recipe.

    Example:

      facetrove collector version show emotions-v1
    """
    row = version_row(versions_store(versions_config(config_path, data_dir)), version_id)
    if row["status"] != "ready":
        raise click.ClickException(f"version {version_id} is {row['status']}: {row['error'] or ''}")
    if as_json:
        click.echo(json.dumps(json.loads(row["card"]), indent=2))
        return
    from facetrove.collector.versions.card import card_markdown

    Console().print(Markdown(card_markdown(json.loads(row["card"]))))


COMMANDS: list[click.Command] = [version_group]
