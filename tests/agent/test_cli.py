"""`facetrove agent` CLI and config loading: errors with key paths, ${ENV}, --set, docs coverage."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from facetrove.agent.cli import _overrides, agent
from facetrove.agent.config import AgentConfig
from facetrove.agent.config.delivery import default_outbox_path
from facetrove.agent.config.loader import load_config
from facetrove.agent.delivery.outbox import Outbox
from facetrove.config import ConfigError, substitute
from facetrove.wire import new_sample_id

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def _paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _paths(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def _fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _fields(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_every_key_has_a_description_and_a_row_in_the_docs() -> None:
    """docs/agent.md's reference table lists every config key path."""
    doc = (ROOT / "docs" / "agent.md").read_text()
    missing = [p for p in _paths(AgentConfig) if f"`{p}`" not in doc]
    assert missing == [], f"add these keys to docs/agent.md: {missing}"


STATE_DEFAULT = "<state folder>/outbox.db"


def _doc_default(cell: str) -> str:
    """A default as the docs write it, normalised: `unset`/`none` -> none, quotes and case off."""
    cell = cell.replace("'", "").replace('"', "").lower()
    return "none" if cell == "unset" else cell


def _code_default(field: FieldInfo) -> str:
    if field.default_factory is default_outbox_path:
        return STATE_DEFAULT  # depends on the environment; the docs name the rule
    default = field.get_default(call_default_factory=True)
    return "none" if default is None else str(default).replace("'", "").lower()


@pytest.mark.parametrize("doc_name", ["agent.md", "agent-pipeline.md"])
def test_documented_defaults_and_descriptions_match_the_code(doc_name: str) -> None:
    """Each reference-table row `key` | `default` | meaning states the code's default and its
    field description (a stale row once documented confident_keep 0.3 while the code used 0.5)."""
    doc = (ROOT / "docs" / doc_name).read_text()
    fields = dict(_fields(AgentConfig))
    wrong = []
    for key, default, meaning in re.findall(
        r"^\| `([a-z_.]+)` \| `([^`]*)` \| (.*) \|$", doc, re.M
    ):
        field = fields.get(key)
        if field is None or field.is_required():
            continue
        description = (field.description or "").replace("|", "\\|")
        if _doc_default(default) != _code_default(field) or meaning.strip() != description:
            wrong.append(
                f"{key}: docs `{default}` {meaning!r}; code {field.default!r} {description!r}"
            )
    assert wrong == [], "\n".join(wrong)


def test_every_command_has_help_and_docs() -> None:
    doc = (ROOT / "docs" / "agent.md").read_text()
    assert isinstance(agent, click.Group)
    for name, cmd in agent.commands.items():
        assert cmd.help and len(cmd.help) > 20, name
        assert f"facetrove agent {name}" in doc, name
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"


def test_check_config_reports_each_unknown_key_by_path(tmp_path: Path) -> None:
    """Typos in two sections: exit 2, one `path: message` line each, nothing else validated."""
    cfg = tmp_path / "a.yaml"
    cfg.write_text("device_id: pi-1\nbroker:\n  pasword: x\nsampler:\n  per_minut: 3\n")
    result = CliRunner().invoke(agent, ["check-config", str(cfg)])
    assert result.exit_code == 2
    assert "broker.pasword: unknown key" in result.output
    assert "sampler.per_minut: unknown key" in result.output


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("broker: {url: mqtt://h}\n", "device_id: required"),
        ("device_id: 'bad id!'\n", "device_id: Value error, invalid device id"),
        ("device_id: a\nbroker: {url: 'http://h'}\n", "broker.url: Value error, scheme"),
        ("device_id: a\noutbox: {max_rows: 0}\n", "outbox.max_rows: Input should be greater"),
        ("device_id: a\nbroker: {tls: {cert_file: c.pem}}\n", "cert_file and key_file"),
        ("- just a list\n", "the top level must be a mapping"),
        ("device_id: [unclosed\n", "not valid YAML"),
    ],
)
def test_check_config_errors(tmp_path: Path, yaml_text: str, needle: str) -> None:
    cfg = tmp_path / "a.yaml"
    cfg.write_text(yaml_text)
    result = CliRunner().invoke(agent, ["check-config", str(cfg)])
    assert result.exit_code == 2, result.output
    assert needle in result.output


def test_env_substitution_and_masked_secrets(tmp_path: Path) -> None:
    """${VAR}, ${VAR:-default} and $${ are substituted; printed secrets are masked."""
    cfg = tmp_path / "a.yaml"
    cfg.write_text(
        "device_id: ${DEV:-pi-7}\n"
        "broker:\n  url: mqtt://bob:${URLPW}@h:1883\n  password: ${MQTT_PW}\n"
        "  client_id: 'lit-$${x}'\n"
    )
    env = {"MQTT_PW": "hunter2", "URLPW": "other"}
    conf = load_config(cfg, env=env)
    assert conf.device_id == "pi-7"
    assert conf.broker.credentials() == ("bob", "hunter2")
    assert conf.broker.client_id == "lit-${x}"
    result = CliRunner(env=env).invoke(agent, ["check-config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "other" not in result.output
    assert "mqtt://bob:***@h:1883" in result.output


def test_missing_env_var_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        substitute({"broker": {"password": "${NOPE_X}"}}, {})
    assert err.value.errors == ["broker.password: environment variable NOPE_X is not set"]


def test_command_line_overrides_win(tmp_path: Path) -> None:
    """Options map onto key paths; --set values are typed as YAML; options beat --set."""
    cfg = tmp_path / "a.yaml"
    cfg.write_text("device_id: from-file\nsource: {max_fps: 5}\n")
    opts = {"device_id": "cli-dev", "detector": "full", "max_fps": 12.5, "source": "clip.mp4"}
    conf = load_config(
        cfg, _overrides(("sampler.per_minute=7", "crop.send_frame=true", "device_id=x"), opts)
    )
    assert conf.device_id == "cli-dev" and conf.source.max_fps == 12.5
    assert conf.source.spec == "clip.mp4"
    assert (conf.detector.backend, conf.detector.model) == ("mediapipe", "full_range")
    assert conf.sampler.per_minute == 7 and conf.crop.send_frame is True
    assert conf.client_id == "facetrove-agent-cli-dev"
    haar = load_config(None, _overrides((), {"device_id": "d", "detector": "haar"}))
    assert haar.detector.backend == "haar"


def test_bad_set_syntax_is_exit_2() -> None:
    result = CliRunner().invoke(agent, ["run", "--device-id", "d", "--set", "novalue"])
    assert result.exit_code == 2 and "expected key.path=value" in result.output


def test_exit_when_drained_refused_for_a_camera() -> None:
    result = CliRunner().invoke(agent, ["run", "--device-id", "d", "--source", "0", "--once"])
    assert result.exit_code == 2 and "needs a file or folder source" in result.output


def test_example_config_is_valid(tmp_path: Path) -> None:
    """deploy/agent.example.yaml validates (its CA path replaced by one that exists here)."""
    if not SYSTEM_CA.exists():
        pytest.skip(f"MISSING {SYSTEM_CA}: needs a PEM CA bundle to stand in for the example's")
    result = CliRunner(env={"FACETROVE_MQTT_PASSWORD": "pw"}).invoke(
        agent,
        [
            "check-config",
            str(ROOT / "deploy" / "agent.example.yaml"),
            "--set",
            f"broker.tls.ca_file={SYSTEM_CA}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "device_id: kitchen-pi" in result.output and "password: '***'" in result.output


def test_check_config_names_a_bad_tls_file(tmp_path: Path) -> None:
    cfg = tmp_path / "a.yaml"
    cfg.write_text(
        f"device_id: a\nbroker:\n  url: mqtts://h\n  tls: {{ca_file: {tmp_path}/x.pem}}\n"
    )
    result = CliRunner().invoke(agent, ["check-config", str(cfg)])
    assert result.exit_code == 2
    assert f"broker.tls.ca_file: {tmp_path}/x.pem: no such file" in result.output


def test_outbox_command_shows_counters(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_rows=2)
    for _ in range(3):
        box.put(new_sample_id(), b"12345")
    box.close()
    result = CliRunner().invoke(agent, ["outbox", str(tmp_path / "o.db")])
    assert result.exit_code == 0
    assert "samples waiting: 2 (10 bytes)" in result.output
    assert "dropped_rows: 1" in result.output and "put: 3" in result.output


def test_preview_without_gui_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Headless OpenCV (what the agent installs) cannot open a window: a clear message, no
    crash; without DISPLAY the message says a display is needed."""
    import cv2

    from facetrove.agent.preview import open_preview

    caplog.set_level(logging.WARNING)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert open_preview() is None
    assert "preview needs a display" in caplog.text
    monkeypatch.setenv("DISPLAY", ":99")
    try:
        cv2.namedWindow("probe")
        cv2.destroyWindow("probe")
        pytest.skip("this OpenCV has a GUI; the no-GUI message cannot be shown here")
    except cv2.error:
        pass
    assert open_preview() is None
    assert "preview needs a GUI build of OpenCV" in caplog.text


def test_preview_draws_boxes_of_sent_samples() -> None:
    """The preview overlay puts a box, track id and label where a sample's face was."""
    from facetrove.agent.capture.source import ArraySource
    from facetrove.agent.preview import Preview
    from tests.agent.delivery_support import FakePipeline, face_crop, frames
    from tests.support.data import face_file

    pipe = FakePipeline("dev", face_crop(face_file("single_face.jpg")))
    frame = next(iter(ArraySource(frames(1))))
    ready = pipe.process(frame)
    image = Preview().draw(frame, pipe, ready)
    assert (image[0:40, 0:2] != frame.image[0:40, 0:2]).any()  # the box's left edge
    assert (image[80:, 80:] == frame.image[80:, 80:]).all()  # nothing drawn elsewhere


def test_summary_json_even_for_a_config_error() -> None:
    """A program reading --summary-json gets its final line when the config is invalid too."""
    import json

    result = CliRunner().invoke(agent, ["run", "--summary-json", "--set", "outbox.max_rows=-1"])
    assert result.exit_code == 2
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["event"] == "summary" and summary["reason"] == "config"
    assert summary["exit_code"] == 2
