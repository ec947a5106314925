"""`facetrove collector classes ...`: the project's classes and their order."""

from __future__ import annotations

from pathlib import Path

import click

from facetrove.collector.cli.common import config_option, data_dir_option, open_store
from facetrove.collector.store import classes, reviews


@click.group("classes")
def classes_group() -> None:
    """The project's classes (number keys 1-9 in the review queue follow this order)."""


@classes_group.command("list")
@config_option
@data_dir_option
def classes_list(config_path: Path | None, data_dir: Path | None) -> None:
    """List the classes in order.

    Example: facetrove collector classes list
    """
    db = open_store(config_path, data_dir)
    counts = classes.confirmed_counts(db)
    for i, name in enumerate(classes.class_names(db), 1):
        click.echo(f"{i}\t{name}\t{counts.get(name, 0)} confirmed")


@classes_group.command("add")
@click.argument("name")
@config_option
@data_dir_option
def classes_add(name: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Add a class at the end (recorded in the audit log).

    Example: facetrove collector classes add contempt
    """
    try:
        classes.add_class(open_store(config_path, data_dir), name, None)
    except reviews.ReviewError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added class {name.strip()}")


@classes_group.command("rename")
@click.argument("old")
@click.argument("new")
@config_option
@data_dir_option
def classes_rename(old: str, new: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Rename a class; confirmed labels follow and old pre-labels map to the new name.

    Example: facetrove collector classes rename angry anger
    """
    try:
        classes.rename_class(open_store(config_path, data_dir), old, new, None)
    except reviews.ReviewError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"renamed {old} -> {new.strip()}")


@classes_group.command("order")
@click.argument("names", nargs=-1, required=True)
@config_option
@data_dir_option
def classes_order(names: tuple[str, ...], config_path: Path | None, data_dir: Path | None) -> None:
    """Put the classes in this order (all of them, once each); number keys follow it.

    Example: facetrove collector classes order happy sad neutral angry fear surprise disgust
    """
    try:
        order = classes.reorder_classes(open_store(config_path, data_dir), list(names), None)
    except reviews.ReviewError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("classes: " + ", ".join(f"{i} {c}" for i, c in enumerate(order, start=1)))


COMMANDS: list[click.Command] = [classes_group]
