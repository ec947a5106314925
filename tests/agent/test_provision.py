"""`facetrove agent provision`: the device JSON from the collector -> agent.yaml + credential.

What is tried: the JSON `collector device add --json` prints (its documented fields), a second
run over an existing config, --force, JSON that is not JSON, lacks the password or names a device
id the agent refuses, and a folder that cannot be written: each bad case exits 2 with one line
and writes nothing. The written config is loaded by the real loader with the credential folder.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.agent.cli import agent
from facetrove.agent.config.loader import load_config

DEVICE = {
    "device_id": "kitchen-pi",
    "username": "kitchen-pi",
    "password": "p@ss word:1",
    "broker_url": "mqtts://mqtt.example.org:8883",
    "collector_url": "https://collector.example.org",
}


def _run(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    src = tmp_path / "device.json"
    src.write_text(text)
    result = CliRunner().invoke(
        agent, ["provision", str(src), "--etc", str(tmp_path / "etc"), *extra]
    )
    return result.exit_code, result.output


def _device(**changes: object) -> str:
    return json.dumps({**DEVICE, **changes})


def test_writes_config_and_credential_that_the_agent_loads(tmp_path: Path) -> None:
    code, out = _run(tmp_path, _device())
    assert code == 0, out
    etc = tmp_path / "etc"
    config, cred = etc / "agent.yaml", etc / "credentials" / "mqtt-password"
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600
    assert stat.S_IMODE(cred.parent.stat().st_mode) == 0o700
    assert cred.read_text() == DEVICE["password"]
    assert DEVICE["password"] not in config.read_text()
    loaded = load_config(config, env={"CREDENTIALS_DIRECTORY": str(cred.parent)})
    assert loaded.device_id == "kitchen-pi" and loaded.broker.password is not None
    assert loaded.broker.password.get_secret_value() == DEVICE["password"]
    assert loaded.broker.url == DEVICE["broker_url"] and loaded.broker.username == "kitchen-pi"
    assert str(loaded.outbox.path) == "/var/lib/facetrove/agent/outbox.db"


def test_an_existing_config_is_kept_unless_forced(tmp_path: Path) -> None:
    assert _run(tmp_path, _device())[0] == 0
    code, out = _run(tmp_path, _device(password="new"))
    assert code == 2 and "exists: keeping it" in out
    assert (tmp_path / "etc" / "credentials" / "mqtt-password").read_text() == DEVICE["password"]
    assert _run(tmp_path, _device(password="new"), "--force")[0] == 0
    assert (tmp_path / "etc" / "credentials" / "mqtt-password").read_text() == "new"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("device kitchen-pi: login created", "not the JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({k: v for k, v in DEVICE.items() if k != "password"}), "has no password"),
        (_device(broker_url=""), "has no broker_url"),
        (_device(device_id="../etc/passwd", username="x"), "device_id"),
        (_device(broker_url="http://not-mqtt"), "broker.url"),
    ],
)
def test_bad_input_writes_nothing(tmp_path: Path, text: str, message: str) -> None:
    code, out = _run(tmp_path, text)
    assert code == 2, out
    assert message in out and len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / "etc").exists()


def test_an_unwritable_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where a folder should be")
    src = tmp_path / "device.json"
    src.write_text(_device())
    etc = tmp_path / "file" / "etc"
    result = CliRunner().invoke(agent, ["provision", str(src), "--etc", str(etc)])
    assert result.exit_code == 2 and "cannot write into" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
