"""Collector commands of the review web app: web, user, classes."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load
from facetrove.collector.config import CollectorConfig
from facetrove.collector.store import classes, reviews, users
from facetrove.collector.store.db import DB_NAME, Database, connect


def _load(config_path: Path | None, data_dir: Path | None) -> CollectorConfig:
    return load(config_path, data_dir=data_dir)


def _db(config_path: Path | None, data_dir: Path | None) -> Database:
    config = _load(config_path, data_dir)
    return connect(Path(config.data_dir) / DB_NAME)


@click.command("web")
@config_option
@data_dir_option
@click.option("--host", help="Address to listen on; overrides web.host.")
@click.option("--port", type=int, help="Port to listen on; overrides web.port.")
def web_cmd(
    config_path: Path | None, data_dir: Path | None, host: str | None, port: int | None
) -> None:
    """Run only the review web app (ingest and broker run elsewhere).

    Example: facetrove collector web --data-dir ./facetrove-data --port 8080
    """
    from facetrove.collector.web.server import run_web

    config = load(config_path, data_dir=data_dir, **{"web.host": host, "web.port": port})
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    click.echo(f"review web app on http://{config.web.host}:{config.web.port}/ (Ctrl-C stops)")
    try:
        run_web(config, stop)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {config.web.host}:{config.web.port}: {exc.strerror or exc}"
        ) from None


@click.group("user")
def user_group() -> None:
    """Accounts of the review web app (admin or reviewer)."""


@user_group.command("add")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(users.ROLES), default="reviewer", show_default=True,
    help="admin may change devices, classes and imports; reviewer reviews.",
)  # fmt: skip
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@config_option
@data_dir_option
def user_add(
    username: str,
    role: str,
    password_stdin: bool,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Create an account; prompts for the password unless --password-stdin.

    Example: facetrove collector user add alice --role admin
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(_db(config_path, data_dir), username, password, role)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.username}")


@user_group.command("list")
@config_option
@data_dir_option
def user_list(config_path: Path | None, data_dir: Path | None) -> None:
    """List accounts with their role.

    Example: facetrove collector user list
    """
    rows = users.list_users(_db(config_path, data_dir))
    if not rows:
        click.echo("no users yet: facetrove collector user add NAME --role admin")
    for u in rows:
        state = "" if u.active else " (disabled)"
        click.echo(f"{u.username}\t{u.role}\t{u.created_at}{state}")


@user_group.command("token")
@click.argument("username")
@config_option
@data_dir_option
def user_token(username: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Issue a new API token (the previous one stops working); printed once.

    Example: curl -H "Authorization: Bearer $(facetrove collector user token alice)" URL
    """
    try:
        token = users.issue_token(_db(config_path, data_dir), username)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)


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
    db = _db(config_path, data_dir)
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
        classes.add_class(_db(config_path, data_dir), name, None)
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
        classes.rename_class(_db(config_path, data_dir), old, new, None)
    except reviews.ReviewError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"renamed {old} -> {new.strip()}")


COMMANDS: list[click.Command] = [web_cmd, user_group, classes_group]
