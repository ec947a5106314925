"""`facetrove demo`: the one-machine demonstration behind `make demo`."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def demo() -> None:
    """Run a collector, its embedded broker and an agent on a real clip on this machine."""


@demo.command("run")
def run() -> None:
    """Start everything and print the review address and login."""
    raise click.ClickException("the demo needs the agent and collector, which are not built yet")
