"""`facetrove collector ...`: one module per command (or command group) registers it here."""

from __future__ import annotations

import click

from facetrove.collector.cli import (
    backup,
    classes,
    devices,
    export,
    forget,
    importer,
    ingest,
    models,
    prune,
    quarantine,
    serve,
    stats,
    users,
    versions,
    web,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def collector() -> None:
    """The central collector: broker, ingest, store, review web app, versions and exports."""


_MODULES = [serve, ingest, importer, web, backup, quarantine, stats, forget, prune]
for _module in [*_MODULES, users, classes, devices, versions, export, models]:
    for _cmd in _module.COMMANDS:
        collector.add_command(_cmd)

collector.add_command(__import__("facetrove.collector.cli.train", fromlist=["_"]).train_cmd)
