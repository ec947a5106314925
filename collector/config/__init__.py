"""The collector's configuration: a tree of pydantic models, one file per YAML section."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from collector.config.base import Section
from collector.config.broker import BrokerConfig


class CollectorConfig(Section):
    data_dir: Path = Field(
        default=Path("./facetrove-data"),
        description="folder holding facetrove.db, blobs/, versions/ and exports/",
    )
    broker: BrokerConfig = Field(default_factory=BrokerConfig)


__all__ = ["BrokerConfig", "CollectorConfig"]
