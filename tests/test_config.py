"""The one config loader both sides use: ``${...}`` routes for secrets, one-line key-path errors.

Tried as a newcomer and an attacker would: a secret file or systemd credential that is missing,
a relative path, a credential name that climbs out of the credentials folder, a secret whose text
looks like another ``${...}``, and the same mistakes in the collector's file as in the agent's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.agent.cli import agent
from facetrove.agent.config.loader import load_config as load_agent
from facetrove.collector.config import load_config as load_collector
from facetrove.config import ConfigError, substitute


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "mqtt"
    path.parent.mkdir()
    path.write_text("hunter2\n")  # `echo hunter2 > file` leaves a newline: not part of it
    return path


def _errors(tree: dict[str, object], env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        substitute(tree, env)
    return err.value.errors


def test_environment_defaults_and_literal() -> None:
    tree = {"a": "${X}", "b": ["${NOPE:-d}", "$${X}"], "c": 3}
    assert substitute(tree, {"X": "x"}) == {"a": "x", "b": ["d", "${X}"], "c": 3}
    assert _errors({"broker": {"password": "${NOPE_X}"}}, {}) == [
        "broker.password: environment variable NOPE_X is not set"
    ]


def test_secret_from_a_file(secret: Path, tmp_path: Path) -> None:
    assert substitute({"p": f"${{file:{secret}}}"}, {}) == {"p": "hunter2"}
    missing = tmp_path / "secrets" / "nope"
    assert _errors({"broker": {"password": f"${{file:{missing}}}"}}, {}) == [
        f"broker.password: secret file {missing}: cannot read (No such file or directory)"
    ]
    assert _errors({"p": f"${{file:{secret.parent}}}"}, {}) == [
        f"p: secret file {secret.parent}: cannot read (Is a directory)"
    ]
    assert _errors({"p": "${file:secrets/mqtt}"}, {}) == [
        "p: secret file secrets/mqtt: must be an absolute path"
    ]


def test_secret_from_a_systemd_credential(secret: Path) -> None:
    env = {"CREDENTIALS_DIRECTORY": str(secret.parent)}
    assert substitute({"p": "${credential:mqtt}"}, env) == {"p": "hunter2"}
    assert _errors({"broker": {"password": "${credential:other}"}}, env) == [
        f"broker.password: credential other not found in {secret.parent} ($CREDENTIALS_DIRECTORY)"
    ]
    assert _errors({"p": "${credential:mqtt}"}, {}) == [
        "p: credential mqtt: $CREDENTIALS_DIRECTORY is not set "
        "(systemd sets it for a unit with LoadCredential=)"
    ]
    for name in ("../secrets/mqtt", "..", ""):
        assert _errors({"p": f"${{credential:{name}}}"}, env) == [
            f"p: {name!r} is not a credential name (letters, digits, '_', '-', '.')"
        ]


def test_a_secret_is_not_substituted_again(tmp_path: Path) -> None:
    """A password that happens to contain ``${HOME}`` is that password, not the home folder."""
    path = tmp_path / "pw"
    path.write_text("a${HOME}b")
    assert substitute({"p": f"${{file:{path}}}"}, {"HOME": "/root"}) == {"p": "a${HOME}b"}


def test_agent_reads_each_route_and_never_prints_the_secret(secret: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    env = {"CREDENTIALS_DIRECTORY": str(secret.parent)}
    for ref in (f"${{file:{secret}}}", "${credential:mqtt}", "${PW}"):
        cfg.write_text(f"device_id: pi-1\nbroker:\n  password: '{ref}'\n")
        conf = load_agent(cfg, env={**env, "PW": "hunter2"})
        assert conf.broker.credentials() == (None, "hunter2"), ref
    cfg.write_text(f"device_id: pi-1\nbroker:\n  password: '${{file:{secret}}}'\n")
    result = CliRunner().invoke(agent, ["check-config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output


def test_agent_missing_secret_file_is_exit_2_with_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("device_id: pi-1\nbroker:\n  password: '${file:/nonexistent/pw}'\n")
    result = CliRunner().invoke(agent, ["check-config", str(cfg)])
    assert result.exit_code == 2
    assert "broker.password: secret file /nonexistent/pw: cannot read" in result.output


def test_collector_reads_each_route(
    secret: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(secret.parent))
    monkeypatch.setenv("FT_PW", "hunter2")
    cfg = tmp_path / "collector.yaml"
    for ref in (f"${{file:{secret}}}", "${credential:mqtt}", "${FT_PW}"):
        cfg.write_text(f"broker:\n  password: '{ref}'\n")
        assert load_collector(cfg).broker.password == "hunter2", ref
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    cfg.write_text("broker:\n  password: '${credential:mqtt}'\n")
    with pytest.raises(ConfigError, match=r"broker.password: credential mqtt: \$CREDENTIALS"):
        load_collector(cfg)


def test_collector_errors_read_like_the_agents(tmp_path: Path) -> None:
    """One ``path: reason`` line per problem, the same words on both sides."""
    cfg = tmp_path / "collector.yaml"
    cfg.write_text("ingest:\n  batch_ms: -1\n  colour: red\nweb:\n")
    with pytest.raises(ConfigError) as err:
        load_collector(cfg)
    assert err.value.errors[0].startswith("ingest.batch_ms: ")
    assert err.value.errors[1] == (
        "ingest.colour: unknown key (not a config option; check the spelling and the section)"
    )
    assert len(err.value.errors) == 2  # an emptied section (web:) is not an error
    cfg.write_text("ingest: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{cfg}: not valid YAML"):
        load_collector(cfg)
    with pytest.raises(ConfigError, match=r": cannot read config file \("):
        load_collector(tmp_path / "missing.yaml")


def test_a_secret_reference_to_an_endless_file_is_refused() -> None:
    """``${file:/dev/zero}`` must not read forever or fill the memory."""
    assert _errors({"p": "${file:/dev/zero}"}, {}) == [
        "p: secret file /dev/zero: larger than 64 KiB, not a secret"
    ]
