"""`facetrove collector user ...`: accounts of the review web app."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from facetrove.collector.cli.common import config_option, data_dir_option, open_store
from facetrove.collector.store import users


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
        user = users.create_user(open_store(config_path, data_dir), username, password, role)
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
    rows = users.list_users(open_store(config_path, data_dir))
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
        token = users.issue_token(open_store(config_path, data_dir), username)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)


COMMANDS: list[click.Command] = [user_group]
