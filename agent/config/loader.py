"""Load the agent's config with the shared loader (``facetrove/config.py``), print it masked.

Errors name the key path (``broker.tls.ca_file: ...``) so a typo in a file on a Pi is found
without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from facetrove.agent.config import AgentConfig
from facetrove.config import load

_MISSING = {"device_id": "required, but not set (device_id: in the file, or --device-id)"}


def load_config(
    path: Path | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
    env: Mapping[str, str] | None = None,
) -> AgentConfig:
    """Build the effective config: file (optional) + overrides, ``${...}`` resolved, validated.

    Raises:
        facetrove.config.ConfigError: every problem, one ``path.to.key: message`` line each.
    """
    return load(AgentConfig, path, overrides, env, _MISSING)


def effective_dict(config: AgentConfig) -> dict[str, Any]:
    """The config as plain data with secrets masked, for printing."""
    data: dict[str, Any] = config.model_dump(mode="json")
    data["broker"]["url"] = config.broker.masked_url()
    if config.broker.password is not None:
        data["broker"]["password"] = "***"
    return data
