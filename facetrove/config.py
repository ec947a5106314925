"""The config loader both sides use: YAML, ``${...}`` references, overrides, pydantic.

Every string value (from the file or from a command-line override) may hold references:

- ``${NAME}``, ``${NAME:-default}``: an environment variable;
- ``${file:/abs/path}``: the text of a file, e.g. a Docker or Kubernetes secret under
  ``/run/secrets``;
- ``${credential:NAME}``: a systemd credential, the file ``$CREDENTIALS_DIRECTORY/NAME`` that a
  unit with ``LoadCredential=NAME:...`` gets;
- ``$${`` is a literal ``${``.

Trailing newlines of a secret file are dropped, and what a reference yields is not read again
(a password containing ``${X}`` stays as it is). Every problem is one ``path.to.key: reason``
line, collected in :class:`ConfigError`. Only pydantic and PyYAML: both sides may import this.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

_REF = re.compile(
    r"\$\$\{"
    r"|\$\{(?P<env>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$\{(?P<kind>file|credential):(?P<arg>[^}]*)\}"
)
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
MAX_SECRET_BYTES = 64 * 1024

_M = TypeVar("_M", bound=BaseModel)


class Section(BaseModel):
    """A config section. Unknown keys are rejected so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ConfigError(ValueError):
    """The configuration is invalid; ``errors`` holds one ``path.to.key: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Unresolved(Exception):
    """One reference that cannot be resolved; the message is the reason, without the path."""


def _read_secret(path: Path, what: str) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise _Unresolved(f"{what}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_SECRET_BYTES:
        raise _Unresolved(f"{what}: larger than {MAX_SECRET_BYTES // 1024} KiB, not a secret")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise _Unresolved(f"{what}: not UTF-8 text") from None


def _resolve(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match.group(0) == "$${":
        return "${"
    name = match.group("env")
    if name is not None:
        if name in env:
            return env[name]
        if match.group("default") is not None:
            return match.group("default")
        raise _Unresolved(f"environment variable {name} is not set")
    arg = match.group("arg")
    if match.group("kind") == "file":
        if not Path(arg).is_absolute():
            raise _Unresolved(f"secret file {arg}: must be an absolute path")
        return _read_secret(Path(arg), f"secret file {arg}")
    if not _CREDENTIAL_NAME.fullmatch(arg):
        raise _Unresolved(f"{arg!r} is not a credential name (letters, digits, '_', '-', '.')")
    folder = env.get("CREDENTIALS_DIRECTORY")
    if not folder:
        raise _Unresolved(
            f"credential {arg}: $CREDENTIALS_DIRECTORY is not set "
            "(systemd sets it for a unit with LoadCredential=)"
        )
    path = Path(folder) / arg
    if not path.is_file():
        raise _Unresolved(f"credential {arg} not found in {folder} ($CREDENTIALS_DIRECTORY)")
    return _read_secret(path, f"credential {arg}")


def substitute(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Resolve every ``${...}`` reference in the strings of a parsed YAML tree.

    Args:
        value: the tree (dicts, lists, scalars).
        env: the environment; ``CREDENTIALS_DIRECTORY`` is read from it too.
        path: key path of ``value`` (for messages).

    Raises:
        ConfigError: one ``path: reason`` line per reference that cannot be resolved.
    """
    errors: list[str] = []
    out = _substitute(value, env, path, errors)
    if errors:
        raise ConfigError(errors)
    return out


def _substitute(value: Any, env: Mapping[str, str], path: str, errors: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, env, _join(path, str(k)), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, _join(path, str(i)), errors) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        try:
            return _resolve(match, env)
        except _Unresolved as exc:
            errors.append(f"{path or '<root>'}: {exc}")
            return ""

    return _REF.sub(repl, value)


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
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError([f"{'.'.join(parts[: i + 1])}: is a value, not a section"])
            node = child
        node[parts[-1]] = value
    return tree


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML config file into a dict (an empty file is an empty config).

    Raises:
        ConfigError: ``<file>: <reason>`` when it cannot be read, is not YAML or not a mapping.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not a text file (UTF-8 expected)"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections"])
    return data


def format_errors(exc: ValidationError, missing: Mapping[str, str] | None = None) -> list[str]:
    """One ``path.to.key: message`` line per validation error (never the value itself).

    Args:
        missing: a better message for a required key that is not set, by key path.
    """
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a config option; check the spelling and the section)"
        elif err["type"] == "missing":
            msg = (missing or {}).get(loc, "required, but not set")
        lines.append(f"{loc}: {msg}")
    return lines


def load(
    model: type[_M],
    path: Path | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
    env: Mapping[str, str] | None = None,
    missing: Mapping[str, str] | None = None,
) -> _M:
    """Build a validated config: file (optional) + overrides, references resolved.

    Args:
        model: the root section.
        path: the YAML file, or None for defaults and overrides only.
        overrides: ``(dotted.key, value)`` pairs; they win over the file.
        env: the environment (default ``os.environ``).
        missing: messages for required keys (see :func:`format_errors`).

    Raises:
        ConfigError: every problem, one ``path.to.key: message`` line each.
    """
    tree = read_yaml(path) if path is not None else {}
    # A section whose keys are all commented out reads as null: treat it as empty.
    tree = {k: v for k, v in tree.items() if v is not None}
    tree = apply_overrides(tree, overrides)
    tree = substitute(tree, os.environ if env is None else env)
    try:
        return model.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, missing)) from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
