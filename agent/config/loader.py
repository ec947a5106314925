"""Read the agent's YAML file, substitute ``${ENV}`` values, apply command-line overrides.

Errors name the key path (``broker.tls.ca_file: ...``) so a typo in a file on a Pi is found
without reading a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from facetrove.agent.config import AgentConfig

# ${NAME} or ${NAME:-default}; $${ is a literal ${.
_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The configuration is invalid; ``errors`` holds one ``path.to.key: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def substitute_env(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of a parsed YAML tree.

    Raises:
        ConfigError: naming the key path when a variable is unset and has no default.
    """
    if isinstance(value, dict):
        return {k: substitute_env(v, env, _join(path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, env, _join(path, str(i))) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    missing: list[str] = []

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    out = _ENV_RE.sub(repl, value)
    if missing:
        raise ConfigError(
            [f"{path or '<root>'}: environment variable {n} is not set" for n in missing]
        )
    return out


def parse_set(item: str) -> tuple[str, Any]:
    """Split ``key.path=value``; the value is read as YAML (``10`` is a number, ``true`` a bool)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not p for p in key.split(".")):
        raise ConfigError([f"--set {item!r}: expected key.path=value"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(tree: dict[str, Any], overrides: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Set each dotted key path in a nested dict (creating sections as needed)."""
    for key, value in overrides:
        node = tree
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError([f"{'.'.join(parts[: i + 1])}: is a value, not a section"])
            node = child
        node[parts[-1]] = value
    return tree


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML config file into a dict (an empty file is an empty config)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file ({exc.strerror or exc})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections"])
    return data


def load_config(
    path: Path | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
    env: Mapping[str, str] | None = None,
) -> AgentConfig:
    """Build the effective config: file (optional) + ``${ENV}`` + overrides, validated.

    Raises:
        ConfigError: every problem, one ``path.to.key: message`` line each.
    """
    tree = read_yaml(path) if path is not None else {}
    # A section whose keys are all commented out reads as null: treat it as empty.
    tree = {k: v for k, v in tree.items() if v is not None}
    tree = apply_overrides(tree, overrides)
    tree = substitute_env(tree, os.environ if env is None else env)
    try:
        return AgentConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None


def format_errors(exc: ValidationError) -> list[str]:
    """One ``path.to.key: message`` line per validation error."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a config option; check the spelling and the section)"
        elif err["type"] == "missing" and loc == "device_id":
            msg = "required, but not set (device_id: in the file, or --device-id)"
        elif err["type"] == "missing":
            msg = "required, but not set"
        lines.append(f"{loc}: {msg}")
    return lines


def effective_dict(config: AgentConfig) -> dict[str, Any]:
    """The config as plain data with secrets masked, for printing."""
    data: dict[str, Any] = config.model_dump(mode="json")
    data["broker"]["url"] = config.broker.masked_url()
    if config.broker.password is not None:
        data["broker"]["password"] = "***"
    return data


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
