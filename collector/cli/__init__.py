"""`facetrove collector ...`: one module per area registers its commands here."""

from __future__ import annotations

import click

from facetrove.collector.cli import devices as _devices
from facetrove.collector.cli import importer as _importer
from facetrove.collector.cli import ingest as _ingest
from facetrove.collector.cli import versions as _versions
from facetrove.collector.cli import web as _web


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def collector() -> None:
    """The central collector: broker, ingest, store, review web app, versions and exports."""


for _module in (_ingest, _importer, _web, _versions, _devices):
    for _cmd in _module.COMMANDS:
        collector.add_command(_cmd)

collector.add_command(__import__("facetrove.collector.cli.train", fromlist=["_"]).train_cmd)
