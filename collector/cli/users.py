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
@click.argument("username", required=False)
@click.option("--list", "list_", is_flag=True, help="List the accounts that hold an API token.")
@click.option("--revoke", is_flag=True, help="Remove USERNAME's API token (it stops working).")
@config_option
@data_dir_option
def user_token(
    username: str | None,
    list_: bool,
    revoke: bool,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Issue a new API token (the previous one stops working); printed once.

    Example: curl -H "Authorization: Bearer $(facetrove collector user token alice)" URL

    Example: facetrove collector user token --list; facetrove collector user token alice --revoke
    """
    db = open_store(config_path, data_dir)
    if list_:
        for name in users.token_holders(db):
            click.echo(name)
        return
    if not username:
        raise click.UsageError("name the account: user token USERNAME (or --list)")
    try:
        if revoke:
            had = users.revoke_token(db, username)
            click.echo(f"revoked {username}'s token" if had else f"{username} had no token")
            return
        token = users.issue_token(db, username)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)


def _set_active(
    username: str, active: bool, config_path: Path | None, data_dir: Path | None
) -> None:
    try:
        users.set_active(open_store(config_path, data_dir), username, active)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None


@user_group.command("disable")
@click.argument("username")
@config_option
@data_dir_option
def user_disable(username: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Disable an account: its web sessions end at once, its token stops working, its leased
    samples go back to the queue. Its reviews are kept.

    Example: facetrove collector user disable bob
    """
    _set_active(username, False, config_path, data_dir)
    click.echo(f"disabled {username}")


@user_group.command("enable")
@click.argument("username")
@config_option
@data_dir_option
def user_enable(username: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Enable a disabled account again.

    Example: facetrove collector user enable bob
    """
    _set_active(username, True, config_path, data_dir)
    click.echo(f"enabled {username}")


@user_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@config_option
@data_dir_option
def user_passwd(
    username: str, password_stdin: bool, config_path: Path | None, data_dir: Path | None
) -> None:
    """Set a new password; every web session of the account ends.

    Example: facetrove collector user passwd bob
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        users.set_password(open_store(config_path, data_dir), username, password)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {username} changed; its sessions are logged out")


COMMANDS: list[click.Command] = [user_group]
