"""`facetrove collector device ...`: one MQTT login per device (add, list, revoke, Mosquitto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from facetrove.collector.cli.common import broker_option, config_option, data_dir_option, load
from facetrove.collector.config import CollectorConfig
from facetrove.collector.store.db import StoreError


@click.group("device")
def device_group() -> None:
    """Device logins: each agent connects as itself and may touch only its own topics."""


def _store(config: CollectorConfig) -> Any:
    from facetrove.collector.store import DB_NAME, connect

    try:
        return connect(Path(config.data_dir) / DB_NAME)
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"cannot open the store in {config.data_dir}: {exc}") from None


def _reachable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def device_broker_url(config: CollectorConfig) -> str:
    """Where devices connect: broker.device_url, else the embedded broker's address."""
    b = config.broker
    if b.device_url:
        return b.device_url
    if b.url is None:
        return f"mqtt://{_reachable(b.embedded_host)}:{b.embedded_port}"
    raise click.ClickException(
        "the broker is external: set broker.device_url (the address devices connect to, e.g. "
        "Mosquitto's device listener mqtts://mqtt.example.org:8883) or pass --broker-url"
    )


def collector_url(config: CollectorConfig) -> str:
    """Where devices reach the web app (model downloads)."""
    w = config.web
    return (w.public_url or f"http://{_reachable(w.host)}:{w.port}").rstrip("/")


def _collector_logins(config: CollectorConfig) -> dict[str, str]:
    from facetrove.collector.config.broker import parse_broker_url

    b = config.broker
    user, password = b.username, b.password
    if b.url:
        addr = parse_broker_url(b.url)
        user, password = addr.username or user, addr.password or password
    if not password:
        raise click.ClickException(
            "the collector's own broker password is not configured (the password in broker.url "
            "or --broker mqtt://USER:PASSWORD@HOST:PORT, or broker.password): it goes into "
            "collector.passwd"
        )
    return {user: password}


def _sync_mosquitto(config: CollectorConfig, db: Any, folder: Path | None) -> str | None:
    """Write Mosquitto's files (and reload) when configured; returns what was done."""
    from facetrove.collector.identity.mosquitto import MosquittoError, export_files, reload

    folder = folder or config.broker.mosquitto_files
    if folder is None:
        return None
    try:
        export = export_files(db, folder, _collector_logins(config))
        note = f"Mosquitto files in {export.folder} ({export.devices} device(s))"
        if config.broker.mosquitto_reload:
            reload(config.broker.mosquitto_reload)
            note += f", reloaded with {' '.join(config.broker.mosquitto_reload)}"
        else:
            note += "; reload Mosquitto to apply them (broker.mosquitto_reload is not set)"
    except MosquittoError as exc:
        raise click.ClickException(str(exc)) from None
    return note


@device_group.command("add")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
@click.option("--broker-url", help="Broker address for the device; overrides broker.device_url.")
@click.option(
    "--collector-url",
    "web_url",
    help="The web app's address for the device; overrides web.public_url.",
)
@click.option(
    "--replace", is_flag=True, help="Give a device that has a login a new password (lost one)."
)
@config_option
@data_dir_option
def add_cmd(
    name: str,
    as_json: bool,
    broker_url: str | None,
    web_url: str | None,
    replace: bool,
    config_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Create the login of device NAME and print what to paste into its agent config.

    The password is printed once and stored only as a hash. NAME becomes the device id and
    the MQTT username: the device may publish only facetrove/v1/NAME/{sample,status,stats}
    and read only its own config, model and receipt.

    \b
    Example:
      facetrove collector device add kitchen-pi --data-dir ./data
      facetrove collector device add kitchen-pi --json > kitchen-pi.json
      facetrove collector device add kitchen-pi --replace   # a new password
    """
    from facetrove.collector.identity.registry import DeviceRegistryError, add_device, check_name

    config = load(
        config_path,
        data_dir=data_dir,
        **{"broker.device_url": broker_url, "web.public_url": web_url},
    )
    from facetrove.collector.importer.rows import DEVICE_ID as IMPORTED

    reserved = (config.broker.username, IMPORTED)  # imported faces are stored as device 'import'
    try:
        check_name(name, reserved)
    except DeviceRegistryError as exc:
        raise click.ClickException(str(exc)) from None
    url = device_broker_url(config)
    web = collector_url(config)
    db = _store(config)
    try:
        password = add_device(db, name, reserved, replace=replace)
    except DeviceRegistryError as exc:
        raise click.ClickException(str(exc)) from None
    note = _sync_mosquitto(config, db, None)
    if note is not None and replace and config.broker.mosquitto_reload:
        _kick(config, name)  # a connection with the old password ends now
    agent = {
        "device_id": name,
        "broker": {"url": url, "username": name, "password": password},
        "model_updates": {"collector_url": web},
    }
    if as_json:
        out = {"device_id": name, "username": name, "password": password, "broker_url": url,
               "collector_url": web, "agent_config": agent}  # fmt: skip
        click.echo(json.dumps(out))
        return
    import yaml

    click.echo(f"device {name}: login created; the password is shown only now.")
    click.echo("Paste into the agent's config file (facetrove agent run --config FILE):\n")
    click.echo(yaml.safe_dump(agent, sort_keys=False).rstrip())
    click.echo(
        f"\nor on the command line: --device-id {name} --broker {_with_login(url, name, password)}"
    )
    if note:
        click.echo(note)


def _with_login(url: str, user: str, password: str) -> str:
    from urllib.parse import quote

    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


@device_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead.")
@config_option
@data_dir_option
def list_cmd(as_json: bool, config_path: Path | None, data_dir: Path | None) -> None:
    """List device logins: active or revoked, when, last seen, samples stored.

    \b
    Example:
      facetrove collector device list --data-dir ./data
    """
    from facetrove.collector.identity.registry import list_devices

    rows = list_devices(_store(load(config_path, data_dir=data_dir)))
    fields = ("device_id", "created_at", "revoked_at", "last_seen", "samples")
    if as_json:
        click.echo(json.dumps([{f: getattr(r, f) for f in fields} | {"active": r.active}
                               for r in rows]))  # fmt: skip
        return
    if not rows:
        click.echo("no device logins yet: facetrove collector device add NAME")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Device logins")
    for col in ("device", "state", "created", "revoked", "last seen", "samples"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.device_id, "active" if r.active else "revoked", r.created_at,
                      r.revoked_at or "", r.last_seen or "", str(r.samples or 0))  # fmt: skip
    Console().print(table)


@device_group.command("revoke")
@click.argument("name")
@config_option
@data_dir_option
def revoke_cmd(name: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Revoke device NAME's login, effective at once.

    The embedded broker disconnects it within a second and refuses it from then on. With
    Mosquitto (broker.mosquitto_files set) the files are rewritten, Mosquitto reloaded and the
    device's connection ended. Its stored samples stay.

    \b
    Example:
      facetrove collector device revoke kitchen-pi
    """
    from facetrove.collector.identity.registry import DeviceRegistryError, revoke_device

    config = load(config_path, data_dir=data_dir)
    db = _store(config)
    try:
        changed = revoke_device(db, name)
    except DeviceRegistryError as exc:
        raise click.ClickException(str(exc)) from None
    note = _sync_mosquitto(config, db, None)
    click.echo(f"device {name}: login {'revoked' if changed else 'was already revoked'}")
    if note is None:
        return
    if config.broker.mosquitto_reload or not changed:
        # Only after a reload (ours, or the operator's before revoking again): before it, the
        # device could log in again at once.
        _kick(config, name)
        click.echo(note + f"; {name} disconnected")
    else:
        click.echo(
            note + f". A connected {name} stays connected until then: after the reload run "
            f"`facetrove collector device revoke {name}` again to end its connection"
        )


def _kick(config: CollectorConfig, name: str) -> None:
    from facetrove.collector.config.broker import parse_broker_url
    from facetrove.collector.identity.mosquitto import MosquittoError, kick

    if not config.broker.url:
        return
    addr = parse_broker_url(config.broker.url)
    ((user, password),) = _collector_logins(config).items()
    try:
        kick(addr.host, addr.port, user, password, name, tls=addr.tls)
    except MosquittoError as exc:
        raise click.ClickException(f"revoked, but could not disconnect {name}: {exc}") from None


@device_group.command("export-mosquitto")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the four files; default broker.mosquitto_files.",
)
@broker_option
@config_option
@data_dir_option
def export_cmd(
    out: Path | None, broker_url: str | None, config_path: Path | None, data_dir: Path | None
) -> None:
    """Write Mosquitto's password and ACL files from the device registry.

    devices.passwd and devices.acl serve the device listener, collector.passwd and
    collector.acl the collector's (see deploy/mosquitto.conf): the login in --broker (or
    broker.url, or broker.username/password), the one `collector serve --broker` and
    `collector ingest --broker` connect with. Runs broker.mosquitto_reload when it is set;
    otherwise reload Mosquitto yourself (systemctl reload mosquitto).

    \b
    Example:
      facetrove collector device export-mosquitto --out /etc/mosquitto/facetrove \\
        --broker mqtt://collector:PASSWORD@127.0.0.1:1884
    """
    config = load(config_path, data_dir=data_dir, **{"broker.url": broker_url})
    if out is None and config.broker.mosquitto_files is None:
        raise click.UsageError("give --out DIR or set broker.mosquitto_files")
    click.echo(_sync_mosquitto(config, _store(config), out))


COMMANDS: list[click.Command] = [device_group]
