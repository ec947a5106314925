"""The `facetrove` command: one entry point, a group per side.

The `agent` and `collector` groups are loaded lazily so that an agent-only install (no Flask) and
a collector-only install (no MediaPipe) both get a working command.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from facetrove import __version__
from facetrove.logs import install_json_hooks, json_logs, say

# group name -> (module, attribute, extra that provides it, modules that extra must bring)
_GROUPS = {
    "agent": ("facetrove.agent.cli", "agent", "agent", ("cv2", "numpy", "onnxruntime", "paho")),
    "collector": (
        "facetrove.collector.cli",
        "collector",
        "collector",
        ("flask", "sqlite_utils", "amqtt"),
    ),
    "demo": ("facetrove.demo", "demo", "all", ("onnxruntime", "flask")),
}


class LazyGroup(click.Group):
    """A group whose subgroups are imported only when used (or listed in --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_GROUPS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _GROUPS:
            return super().get_command(ctx, cmd_name)
        module_name, attr, extra, needs = _GROUPS[cmd_name]
        absent = [name for name in needs if importlib.util.find_spec(name) is None]
        if absent:
            return _missing(cmd_name, extra, ImportError(f"no module named {', '.join(absent)}"))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            return _missing(cmd_name, extra, exc)
        cmd: click.Command = getattr(module, attr)
        return cmd


def _missing(name: str, extra: str, exc: ImportError) -> click.Command:
    @click.command(
        name,
        help=f"(not installed: needs the '{extra}' extra, see docs/install.md)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def _cmd(args: tuple[str, ...]) -> None:
        raise click.ClickException(
            f"'facetrove {name}' needs the {extra} extra ({exc}). Install it as docs/install.md "
            "shows (make install, or uv/pip with deploy/overrides.txt or a lock file, so that "
            "exactly one OpenCV ends up installed)."
        )

    return _cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="facetrove")
def cli() -> None:
    """facetrove: grow face and emotion datasets from the field.

    Agents on camera devices detect, crop and pre-label faces and send them over MQTT; the
    collector stores them, queues them for human review and exports versioned datasets.
    """


def main() -> None:
    """Console entry point. With ``FACETROVE_LOG_FORMAT=json`` a command's error (``Error: ...``
    and usage errors) and any uncaught exception are JSON lines on stderr like the logs."""
    if not json_logs():
        cli()
        return
    install_json_hooks()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as exc:
        say(exc.format_message(), "ERROR")
        sys.exit(exc.exit_code)
    except click.Abort:
        say("aborted", "ERROR")
        sys.exit(1)
    except KeyboardInterrupt:  # standalone mode would have said "Aborted!"
        say("aborted", "ERROR")
        sys.exit(130)
