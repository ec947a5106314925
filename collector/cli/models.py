"""`facetrove collector model ...`: the model registry (list, show) and rollouts to devices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from facetrove.collector.cli.common import config_option, data_dir_option, load, open_existing
from facetrove.collector.config import CollectorConfig


@click.group("model")
def model_group() -> None:
    """Trained pre-label models: list, show, roll out to devices (canary, all), roll back."""


def _open(config: CollectorConfig) -> Any:
    from facetrove.collector.rollout import sync_folders

    db = open_existing(config)
    sync_folders(db, Path(config.data_dir))  # models trained before the registry existed
    return db


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


@model_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@config_option
@data_dir_option
def list_cmd(config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """Registered models with their status, version, parent and test top-1.

    Example:

      facetrove collector model list
    """
    from facetrove.collector.store import models as registry

    config = load(config_path, data_dir=data_dir)
    db = _open(config)
    rows = registry.list_models(db)
    table = registry.assignments(db)
    if as_json:
        click.echo(json.dumps([vars(m) for m in rows], indent=2))
        return
    click.echo(f"{'id':<24} {'status':<10} {'version':<16} {'parent':<16} {'top-1':>6}  devices")
    for m in rows:
        first: dict[str, Any] = next(iter(m.metrics.values()), {})
        top1 = first.get("new", {}).get("top1")
        on = sorted(d for d, mid in table.items() if mid == m.id)
        if m.id == registry.BUNDLED and registry.ALL not in table:
            on.append("all (by default)")
        click.echo(
            f"{m.id:<24} {m.status:<10} {m.version_id or '-':<16} {m.parent or '-':<16}"
            f" {_pct(top1):>6}  {', '.join('all' if d == '*' else d for d in on) or '-'}"
        )
    if all(m.id == registry.BUNDLED for m in rows):
        click.echo("no trained models yet: train one with 'facetrove collector train VERSION"
                   " --name NAME'")  # fmt: skip


@model_group.command("show")
@click.argument("model_id")
@config_option
@data_dir_option
def show_cmd(config_path: Path | None, data_dir: Path | None, model_id: str) -> None:
    """One model as JSON: registry row, metrics, rollout history, devices assigned.

    Example:

      facetrove collector model show emo-ft1
    """
    from facetrove.collector.store import models as registry

    config = load(config_path, data_dir=data_dir)
    db = _open(config)
    try:
        model = registry.get(db, model_id)
    except registry.UnknownModel:
        raise click.ClickException(f"no registered model {model_id!r}") from None
    out = vars(model) | {
        "devices": sorted(d for d, m in registry.assignments(db).items() if m == model_id),
        "history": registry.events(db, model_id),
    }
    click.echo(json.dumps(out, indent=2))


def _publisher(config: CollectorConfig) -> Any:
    from facetrove.collector.broker import ensure_credentials
    from facetrove.collector.web.publish import MqttPublisher

    b = config.broker
    if b.url is None and not b.password:
        creds = ensure_credentials(Path(config.data_dir), (b.username,))
        config = config.model_copy(
            update={"broker": b.model_copy(update={"password": creds.password(b.username)})}
        )
    return MqttPublisher(config)


def _run(config: CollectorConfig, model_id: str, devices: list[str] | None, action: str) -> None:
    from facetrove import wire
    from facetrove.collector.rollout import RolloutError, rollout

    db = _open(config)
    publisher = _publisher(config)
    kind = wire.Kind.MODEL

    def publish(topic: str, payload: bytes) -> None:
        publisher.publish(topic, payload, qos=kind.qos, retain=kind.retain)

    try:
        result = rollout(db, config, model_id, devices, publish, action=action)
    except RolloutError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        publisher.close()
    who = "all devices" if devices is None else ", ".join(devices)
    click.echo(f"{action}: {model_id} assigned to {who}; announced to {len(result.devices)}")
    if result.failed:
        first = next(iter(result.failed.values()))
        raise click.ClickException(
            f"saved, but not announced to {', '.join(sorted(result.failed))} ({first}); "
            "run the same command again once the broker is up"
        )


def _targets(devices: str | None, all_: bool) -> list[str] | None:
    if bool(devices) == all_:
        raise click.UsageError("give either --devices a,b (canary) or --all")
    if all_:
        return None
    return [d.strip() for d in (devices or "").split(",") if d.strip()]


@model_group.command("rollout")
@click.argument("model_id")
@click.option("--devices", help="Comma-separated device ids: a canary on these only.")
@click.option("--all", "all_", is_flag=True, help="Every device (the model becomes deployed).")
@config_option
@data_dir_option
def rollout_cmd(
    config_path: Path | None, data_dir: Path | None, model_id: str, devices: str | None, all_: bool
) -> None:
    """Announce a model to devices (retained `model` message); they fetch, verify and swap live.

    Examples:

      facetrove collector model rollout emo-ft1 --devices cam-1,cam-2

      facetrove collector model rollout emo-ft1 --all
    """
    config = load(config_path, data_dir=data_dir)
    _run(config, model_id, _targets(devices, all_), "rollout")


@model_group.command("rollback")
@click.argument("model_id", required=False)
@click.option("--devices", help="Only these devices (comma-separated); default: all.")
@config_option
@data_dir_option
def rollback_cmd(
    config_path: Path | None, data_dir: Path | None, model_id: str | None, devices: str | None
) -> None:
    """Go back to an earlier model (default: the one deployed to all before the current one).

    Examples:

      facetrove collector model rollback

      facetrove collector model rollback emo-ft1 --devices cam-1
    """
    from facetrove.collector.store import models as registry

    config = load(config_path, data_dir=data_dir)
    if model_id is None:
        model_id = registry.previous_deployed(_open(config))
        if model_id is None:
            raise click.ClickException(
                "no earlier model was deployed to all devices: name one (see 'model list')"
            )
    targets = _targets(devices, False) if devices else None
    _run(config, model_id, targets, "rollback")


COMMANDS: list[click.Command] = [model_group]
