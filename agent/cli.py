"""`facetrove agent ...` commands: run, drain, check-config, outbox."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
import yaml

from facetrove.agent.config import AgentConfig
from facetrove.agent.config.loader import effective_dict, load_config
from facetrove.config import ConfigError, parse_set
from facetrove.logs import configure_logging, say

DETECTORS = {
    "auto": {"detector.backend": "mediapipe", "detector.model": "auto"},
    "short": {"detector.backend": "mediapipe", "detector.model": "short_range"},
    "full": {"detector.backend": "mediapipe", "detector.model": "full_range"},
    "haar": {"detector.backend": "haar"},
}


class AgentExit(click.ClickException):
    """A one-line error with a chosen exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click reads it when it exits


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def agent() -> None:
    """The edge agent: camera -> faces -> pre-labelled crops -> MQTT."""


def _overrides(sets: tuple[str, ...], options: dict[str, Any]) -> list[tuple[str, Any]]:
    """Command-line options win over --set, which wins over the file."""
    out: list[tuple[str, Any]] = []
    try:
        out += [parse_set(s) for s in sets]
    except ConfigError as exc:
        raise AgentExit(str(exc), 2) from None
    if options.get("detector"):
        out += list(DETECTORS[options["detector"]].items())
    simple = {
        "source": "source.spec",
        "broker": "broker.url",
        "device_id": "device_id",
        "max_fps": "source.max_fps",
        "outbox": "outbox.path",
        "protocol": "broker.protocol",
        "log_level": "run.log_level",
    }
    out += [(key, options[opt]) for opt, key in simple.items() if options.get(opt) is not None]
    if options.get("preview"):
        out.append(("run.preview", True))
    if options.get("summary_json"):
        out.append(("run.summary_json", True))
    return out


def _load(config_file: Path | None, overrides: list[tuple[str, Any]]) -> AgentConfig:
    try:
        return load_config(config_file, overrides)
    except ConfigError as exc:
        for line in exc.errors:
            say(line, "ERROR")
        raise AgentExit(f"invalid configuration ({len(exc.errors)} error(s))", 2) from None


_SET_HELP = "set any config key, e.g. --set sampler.per_minute=10 (repeatable)"


@agent.command("run")
@click.option("-c", "--config", "config_file", type=click.Path(path_type=Path), help="YAML file")
@click.option("--source", help="camera index (0), video file, image folder or rtsp:// URL")
@click.option("--broker", help="mqtt://[user:pass@]host[:port] or mqtts://...")
@click.option("--device-id", help="this device's id in topics and samples")
@click.option("--detector", type=click.Choice(sorted(DETECTORS)), help="face detector model")
@click.option("--max-fps", type=float, help="frame-rate cap (0 = as fast as frames come)")
@click.option("--outbox", type=click.Path(path_type=Path), help="SQLite file of the outbox")
@click.option("--protocol", type=click.Choice(["3.1.1", "5"]), help="MQTT protocol version")
@click.option("--preview", is_flag=True, help="show boxes, track ids and pre-labels in a window")
@click.option("--summary-json", is_flag=True, help="print a JSON summary line on stdout at exit")
@click.option(
    "--exit-when-drained",
    "--once",
    "once",
    is_flag=True,
    help="exit when the source ended and the outbox drained (what files and folders always do; "
    "refused for live sources)",
)
@click.option(
    "--id-log",
    type=click.Path(path_type=Path),
    help="append 'put|pub|ack|drop <sample id>' lines to this file (audits, tests)",
)
@click.option(
    "--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), help="log level"
)
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE", help=_SET_HELP)
def run_cmd(
    config_file: Path | None, sets: tuple[str, ...], once: bool, id_log: Path | None, **options: Any
) -> None:
    """Capture faces and deliver them to the broker until stopped (or a file/folder is done).

    Example: facetrove agent run --source 0 --broker mqtt://host:1883 --device-id kitchen-pi

    Exit codes: 0 done or stopped by SIGINT/SIGTERM; 1 the source or pipeline failed;
    2 invalid configuration or TLS file; 3 samples could not be delivered (not authorised,
    broker unreachable past broker.connect_timeout_s, or not confirmed by the collector within
    run.drain_timeout_s) and are kept in the outbox.
    """
    from facetrove.agent.capture.open_source import is_live
    from facetrove.agent.outcome import summary_line
    from facetrove.agent.runner import Runner

    try:
        cfg = _load(config_file, _overrides(sets, options))
    except AgentExit as exc:
        if options.get("summary_json"):  # programs reading stdout always get one final line
            line = {"event": "summary", "exit_code": exc.exit_code, "reason": "config"}
            click.echo(json.dumps({**line, "message": exc.message}))
        raise
    configure_logging(cfg.run.log_level)
    if once and is_live(cfg.source.spec):
        raise AgentExit(
            f"--exit-when-drained needs a file or folder source, not {cfg.source.spec!r}", 2
        )
    result = Runner(cfg, id_log=id_log).run()
    if cfg.run.summary_json:
        click.echo(summary_line(result))
    if result.exit_code != 0:
        raise AgentExit(result.message or result.reason, result.exit_code)
    logging.getLogger("facetrove.agent").info("agent stopped (%s)", result.reason)


@agent.command("drain")
@click.option("-c", "--config", "config_file", type=click.Path(path_type=Path), help="YAML file")
@click.option("--broker", help="mqtt://[user:pass@]host[:port] or mqtts://...")
@click.option("--device-id", help="this device's id in topics and samples")
@click.option("--outbox", type=click.Path(path_type=Path), help="SQLite file of the outbox")
@click.option("--protocol", type=click.Choice(["3.1.1", "5"]), help="MQTT protocol version")
@click.option("--summary-json", is_flag=True, help="print a JSON summary line on stdout at exit")
@click.option(
    "--id-log",
    type=click.Path(path_type=Path),
    help="append 'pub|ack|drop <sample id>' lines to this file (audits, tests)",
)
@click.option(
    "--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), help="log level"
)
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE", help=_SET_HELP)
def drain_cmd(
    config_file: Path | None, sets: tuple[str, ...], id_log: Path | None, **options: Any
) -> None:
    """Deliver what the outbox holds to the broker, without capturing, then exit.

    Example: facetrove agent drain --broker mqtt://host:1883 --device-id kitchen-pi

    Same config and exit codes as `run`: 0 the outbox is empty (or there is none); 3 samples
    could not be delivered (they stay in the outbox); 2 invalid configuration. Do not drain an
    outbox that a running agent uses.
    """
    from facetrove.agent.outcome import summary_line
    from facetrove.agent.runner import Runner

    cfg = _load(config_file, _overrides(sets, options))
    configure_logging(cfg.run.log_level)
    if not cfg.outbox.path.is_file():
        say(f"no outbox at {cfg.outbox.path}: nothing to deliver")
        return
    result = Runner(cfg, id_log=id_log, drain_only=True).run()
    if cfg.run.summary_json:
        click.echo(summary_line(result))
    if result.exit_code != 0:
        raise AgentExit(result.message or result.reason, result.exit_code)
    logging.getLogger("facetrove.agent").info("outbox delivered (%s)", result.reason)


@agent.command("check-config")
@click.argument("config_file", type=click.Path(path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE", help=_SET_HELP)
def check_config(config_file: Path, sets: tuple[str, ...]) -> None:
    """Validate a config file and print the effective config (secrets masked).

    Errors are printed one per line as `path.to.key: message`; the exit code is then 2.
    """
    from facetrove.agent.delivery.publisher import PublisherError, check_tls_files

    cfg = _load(config_file, _overrides(sets, {}))
    try:
        check_tls_files(cfg)
    except PublisherError as exc:
        say(str(exc), "ERROR")
        raise AgentExit("invalid configuration (1 error(s))", 2) from None
    click.echo(yaml.safe_dump(effective_dict(cfg), sort_keys=False).rstrip())


@agent.command("provision")
@click.argument("device_json", type=click.File("r"))
@click.option(
    "--etc",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/etc/facetrove"),
    show_default=True,
    help="config folder to write agent.yaml and credentials/ into",
)
@click.option("--source", default="0", show_default=True, help="camera index, file or rtsp:// URL")
@click.option("--force", is_flag=True, help="replace an existing agent.yaml")
def provision_cmd(device_json: Any, etc: Path, source: str, force: bool) -> None:
    """Write agent.yaml and the password credential from `collector device add --json` output.

    The password goes into ETC/credentials/mqtt-password (mode 600), which the systemd unit
    loads as the credential mqtt-password; agent.yaml names it, never holds it. Nothing is
    written when the JSON or the resulting config is invalid, or agent.yaml exists (--force).

    \b
    Example (on the device, with the file the collector printed):
      sudo facetrove agent provision kitchen-pi.json
    """
    from facetrove.agent.provision import ProvisionError, provision

    try:
        done = provision(device_json.read(), etc, source=source, force=force)
    except ProvisionError as exc:
        raise AgentExit(str(exc), 2) from None
    click.echo(f"device {done.device_id}: wrote {done.config} and {done.credential} (mode 600)")


@agent.command("outbox")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def outbox_cmd(path: Path) -> None:
    """Show what an outbox file holds: depth, bytes and its persistent counters."""
    from facetrove.agent.delivery.outbox import Outbox, OutboxError

    try:
        box = Outbox(path)
    except OutboxError as exc:
        raise AgentExit(str(exc)) from None
    try:
        click.echo(f"samples waiting: {box.depth} ({box.bytes} bytes)")
        for name, value in box.counters().items():
            click.echo(f"{name}: {value}")
    finally:
        box.close()
