"""Options and config loading that every collector command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facetrove.collector.config import CollectorConfig, ConfigError, load_config

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="FACETROVE_CONFIG",
    help="YAML config file (sections data_dir, broker, ingest, web); ${ENV} is substituted.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store folder (facetrove.db, blobs/, versions/); overrides data_dir from the config.",
)


def load(config_path: Path | None, **overrides: Any) -> CollectorConfig:
    """The config from ``--config`` with CLI ``overrides``; errors become one-line messages."""
    try:
        return load_config(config_path, **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
