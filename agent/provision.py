"""Turn the JSON that `facetrove collector device add NAME --json` prints into an agent's files.

Two files in the agent's config folder (``/etc/facetrove`` for the systemd unit):

- ``credentials/mqtt-password`` (folder 0700, file 0600): the device's broker password, which
  the unit hands to the agent as the systemd credential ``mqtt-password``;
- ``agent.yaml`` (0644): device id, broker address and login, the password as
  ``${credential:mqtt-password}`` (never the password itself), the outbox in the unit's state
  folder, and the collector address for model downloads when the JSON names one.

The config is validated before anything is written, and an existing config is kept unless
``force`` is given, so a typo or a second run leaves the device as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from facetrove.agent.config.delivery import ModelUpdateConfig
from facetrove.agent.config.loader import load_config
from facetrove.config import ConfigError

CREDENTIAL = "mqtt-password"
"""The systemd credential name the agent unit loads (LoadCredential=mqtt-password:...)."""
STATE_DIR = Path("/var/lib/facetrove/agent")
"""The agent unit's StateDirectory, the only place it may write."""
_REQUIRED = ("device_id", "username", "password", "broker_url")


class ProvisionError(ValueError):
    """The device JSON is unusable or the files cannot be written; nothing was changed."""


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` wrote."""

    config: Path
    credential: Path
    device_id: str


def read_device_json(text: str) -> dict[str, Any]:
    """The device JSON, checked for the fields an agent needs.

    Raises:
        ProvisionError: not JSON, not an object, or a required field missing or empty.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProvisionError(f"not the JSON of `collector device add --json`: {exc}") from None
    if not isinstance(data, dict):
        raise ProvisionError("not the JSON of `collector device add --json`: not an object")
    missing = [key for key in _REQUIRED if not isinstance(data.get(key), str) or not data[key]]
    if missing:
        raise ProvisionError(f"the device JSON has no {', '.join(missing)}")
    return data


def agent_config(device: Mapping[str, Any], source: str = "0") -> dict[str, Any]:
    """The agent.yaml content for one device (the password as a credential reference)."""
    config: dict[str, Any] = {
        "device_id": device["device_id"],
        "source": {"spec": source},
        "broker": {
            "url": device["broker_url"],
            "username": device["username"],
            "password": "${credential:" + CREDENTIAL + "}",
        },
        "outbox": {"path": str(STATE_DIR / "outbox.db")},
    }
    collector_url = device.get("collector_url")
    # Model downloads from the collector that provisioned the device, where the agent has it.
    if collector_url and "collector_url" in ModelUpdateConfig.model_fields:
        config["model_updates"] = {"collector_url": collector_url}
    return config


def _write(path: Path, text: str, mode: int) -> None:
    """Write a file atomically with ``mode`` from the start (no moment of wider access)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def provision(
    device_json: str, etc: Path, *, source: str = "0", force: bool = False
) -> Provisioned:
    """Write ``etc/agent.yaml`` and ``etc/credentials/mqtt-password`` for the device.

    Raises:
        ProvisionError: bad JSON, a config the agent would refuse, an existing config without
            ``force``, or a folder that cannot be written. Nothing is written then.
    """
    device = read_device_json(device_json)
    config_path = etc / "agent.yaml"
    if config_path.exists() and not force:
        raise ProvisionError(f"{config_path} exists: keeping it (--force replaces it)")
    config = agent_config(device, source)
    with tempfile.TemporaryDirectory() as scratch:
        # Validate exactly what will be written, credential reference included.
        (Path(scratch) / CREDENTIAL).write_text(device["password"])
        draft = Path(scratch) / "agent.yaml"
        draft.write_text(yaml.safe_dump(config, sort_keys=False))
        try:
            load_config(draft, env={**os.environ, "CREDENTIALS_DIRECTORY": scratch})
        except ConfigError as exc:
            raise ProvisionError("; ".join(exc.errors)) from None
    credentials = etc / "credentials"
    try:
        etc.mkdir(parents=True, exist_ok=True)
        credentials.mkdir(mode=0o700, exist_ok=True)
        credentials.chmod(0o700)
        _write(credentials / CREDENTIAL, device["password"], 0o600)
        header = (
            f"# facetrove agent {device['device_id']}: written by `facetrove agent provision`\n"
        )
        _write(config_path, header + yaml.safe_dump(config, sort_keys=False), 0o644)
    except OSError as exc:
        raise ProvisionError(f"cannot write into {etc}: {exc}") from None
    return Provisioned(config_path, credentials / CREDENTIAL, device["device_id"])
