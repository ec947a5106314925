"""The collector's configuration: a tree of pydantic models, one file per YAML section."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from facetrove.collector.config.base import Section
from facetrove.collector.config.broker import BrokerConfig
from facetrove.collector.config.ingest import IngestConfig
from facetrove.collector.config.web import WebConfig


class CollectorConfig(Section):
    data_dir: Path = Field(
        default=Path("./facetrove-data"),
        description="folder holding facetrove.db, blobs/, versions/ and exports/",
    )
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    web: WebConfig = Field(default_factory=WebConfig)


class ConfigError(ValueError):
    """A config file that cannot be read or does not validate; the message names key paths."""


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: Any, path: str) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{path}: environment variable {name} is not set")

        return _ENV_RE.sub(repl, value)
    return value


def load_config(path: Path | str | None = None, **overrides: Any) -> CollectorConfig:
    """Read the collector config from a YAML file (or defaults), then apply ``overrides``.

    ``overrides`` are dotted key paths (``data_dir``, ``broker.url``); None values are skipped,
    so CLI options that were not given leave the file's values alone.

    Raises:
        ConfigError: unreadable file, bad YAML, unset ``${ENV}`` or invalid keys (with paths).
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config {path} must be a mapping of sections")
        data = _substitute(loaded or {}, "")
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        keys = dotted.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    try:
        return CollectorConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        ]
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid config{where}: " + "; ".join(lines)) from None


__all__ = [
    "BrokerConfig",
    "CollectorConfig",
    "ConfigError",
    "IngestConfig",
    "WebConfig",
    "load_config",
]
