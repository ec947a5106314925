"""The collector's configuration: a tree of pydantic models, one file per YAML section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from facetrove.collector.config.broker import BrokerConfig
from facetrove.collector.config.ingest import IngestConfig
from facetrove.collector.config.retention import RetentionConfig
from facetrove.collector.config.web import WebConfig
from facetrove.config import ConfigError, Section, load


class CollectorConfig(Section):
    data_dir: Path = Field(
        default=Path("./facetrove-data"),
        description="folder holding facetrove.db, blobs/, versions/ and exports/",
    )
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Made absolute once, here, against the working directory of the command that loaded
        # the config: Flask's send_file would resolve a relative path against the package.
        return value.expanduser().absolute()


def load_config(path: Path | str | None = None, **overrides: Any) -> CollectorConfig:
    """Read the collector config from a YAML file (or defaults), then apply ``overrides``.

    ``overrides`` are dotted key paths (``data_dir``, ``broker.url``); None values are skipped,
    so CLI options that were not given leave the file's values alone. ``${...}`` references
    (environment, secret files, systemd credentials) are resolved by ``facetrove.config``.

    Raises:
        ConfigError: every problem, one ``path.to.key: message`` line each.
    """
    given = [(key, value) for key, value in overrides.items() if value is not None]
    return load(CollectorConfig, Path(path) if path is not None else None, given)


__all__ = [
    "BrokerConfig",
    "CollectorConfig",
    "ConfigError",
    "IngestConfig",
    "RetentionConfig",
    "WebConfig",
    "load_config",
]
