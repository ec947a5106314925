"""`facetrove agent ...` commands."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def agent() -> None:
    """The edge agent: camera -> faces -> pre-labelled crops -> MQTT."""
