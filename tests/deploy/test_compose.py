"""deploy/compose.yaml, the Dockerfiles and the Mosquitto wrapper of the compose setup.

What is tried: the file against the Compose specification's JSON schema on every machine
(compose-spec.json as vendored in check-jsonschema's wheel, fetched from PyPI once and cached;
a misspelt key or a wrong type is refused), and `docker compose config` where it is installed (or
the Debian `docker-compose` 1.29 when the compose plugin is missing: both validate against the
compose specification and resolve every path);
every host file the compose file mounts and every COPY source of the Dockerfiles exists; every
facetrove command line in them exists in the CLI; and mosquitto-run.sh, the compose Mosquitto's
PID 1, run for real with a real Mosquitto: it waits for the collector's files, starts, and after a
device's login is removed from the files it reloads, so that device is refused.
NOT tried: `docker build` and `docker compose up` (no Docker engine runs on this machine, only
the client), so the images themselves are not built here on either architecture.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from jsonschema.validators import validator_for

from facetrove.cli import cli
from tests.support.broker import free_port, wait_port
from tests.support.data import compose_schema, require
from tests.support.doc_blocks import ROOT

DEPLOY = ROOT / "deploy"
FACETROVE = str(Path(sys.executable).parent / "facetrove")
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))


def _compose_cli() -> list[str]:
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True)
    if docker and plugin and plugin.returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        require("docker compose", "install the Docker compose plugin or Debian's docker-compose")
    return [str(legacy)]


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`docker compose config` of deploy/compose.yaml: validated and with paths resolved."""
    proc = subprocess.run(
        [*_compose_cli(), "-f", str(DEPLOY / "compose.yaml"), "config"],
        capture_output=True, text=True, cwd=DEPLOY,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    resolved: dict[str, Any] = yaml.safe_load(proc.stdout)
    return resolved


def test_compose_validates_and_wires_mosquitto_and_the_collector(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"mosquitto", "collector"}
    mosquitto, collector = services["mosquitto"], services["collector"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in mosquitto["volumes"]}
    assert Path(mounts["/mosquitto/config/conf.d/facetrove.conf"]) == DEPLOY / "mosquitto.conf"
    assert collector["network_mode"] == "service:mosquitto"
    assert Path(collector["build"]["context"]) == ROOT
    assert (ROOT / collector["build"]["dockerfile"]).is_file()
    assert "collector_mqtt_password" in str(collector["secrets"])
    for service in services.values():  # secrets come from files, never from the environment
        assert not [k for k in service.get("environment", {}) if "PASSWORD" in k.upper()]


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            host = str(volume).split(":")[0]
            if host.startswith("/"):
                assert Path(host).exists(), f"{name} mounts missing {host}"


# The Compose JSON schema: checked on every machine, with or without Docker compose


def _schema_errors(text: str) -> list[str]:
    """Where and why ``text``, a compose file, breaks the Compose specification's JSON schema."""
    schema = compose_schema()
    validator = validator_for(schema)
    validator.check_schema(schema)  # a damaged download fails here, not as a pass
    errors = validator(schema).iter_errors(yaml.safe_load(text))
    return sorted(f"{e.json_path}: {e.message}" for e in errors)


def test_compose_yaml_matches_the_compose_schema() -> None:
    assert _schema_errors((DEPLOY / "compose.yaml").read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "where", "why"),
    [  # a misspelt key of a service, a misspelt top-level key, a wrong type, a wrong shape
        ("    volumes:\n", "    volumse:\n", "$.services.mosquitto", "'volumse' was unexpected"),
        ("\nvolumes:\n", "\nvolume:\n", "$", "'volume' does not match any of the regexes"),
        ("    restart: unless-stopped\n", "    restart: no\n",  # YAML 1.1: no is false
         "$.services.mosquitto.restart", "False is not of type 'string'"),
        ("    depends_on:\n      - mosquitto\n", "    depends_on: mosquitto\n",
         "$.services.collector.depends_on", "'mosquitto' is not valid"),
    ],
    ids=["misspelt-service-key", "misspelt-top-level-key", "restart-no", "depends-on-string"],
)  # fmt: skip
def test_the_schema_refuses_a_broken_compose_file(old: str, new: str, where: str, why: str) -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert old in text, f"deploy/compose.yaml changed: no {old!r}"
    errors = _schema_errors(text.replace(old, new, 1))
    assert errors, f"the schema accepted {new.strip()!r}"
    assert [e for e in errors if e.startswith(f"{where}: ") and why in e], errors


COMMAND = re.compile(r"(?<![\w/-])facetrove ((?:agent|collector) [a-z][^&\n\\>]*)")


def _facetrove_commands() -> list[tuple[str, list[str]]]:
    """Every `facetrove ...` command line in compose.yaml and the Dockerfiles."""
    found = []
    sources = [DEPLOY / "compose.yaml", *DOCKERFILES]
    for path in sources:
        text = path.read_text()
        for match in re.finditer(
            r"(?<![\w/-])facetrove ((?:agent|collector) [a-z][^&\n\\>]*)", text
        ):
            found.append((path.name, shlex.split(match.group(1))))
        for match in re.finditer(r'ENTRYPOINT \["facetrove", (.*)\]\nCMD \[(.*)\]', text):
            args = yaml.safe_load(f"[{match.group(1)}, {match.group(2)}]")
            found.append((path.name, args))
    return found


@pytest.mark.parametrize(("where", "args"), _facetrove_commands())
def test_command_lines_exist_in_the_cli(where: str, args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"{where}: `facetrove {' '.join(args)}`: {result.output}"


def test_commands_were_found() -> None:
    wheres = {w for w, _ in _facetrove_commands()}
    assert wheres == {"compose.yaml", *(p.name for p in DOCKERFILES)}, wheres


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.name for p in DOCKERFILES])
def test_dockerfile_copies_what_exists_and_installs_by_the_lock(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    for line in text.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}: missing"
    side = "agent" if dockerfile.name.startswith("agent") else "collector"
    assert f"python -m facetrove.deploy lock {side} > /tmp/lock.txt" in text
    assert "pip install --no-cache-dir --no-deps -r /tmp/lock.txt" in text
    assert "python:3.11-slim-bookworm" in text  # multi-arch (amd64, arm64), the locks' Python
    assert "\nUSER facetrove\n" in text
    if side == "agent":
        assert "libegl1 libgles2" in text


# mosquitto-run.sh with a real Mosquitto


def _mosquitto() -> str:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists() or shutil.which("mosquitto_passwd") is None:
        require("mosquitto", "install the Debian packages 'mosquitto' (.ci/run does)")
    return exe


def _connects(port: int, user: str, password: str) -> bool:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{time.time_ns()}")
    client.username_pw_set(user, password)
    try:
        return client.connect("127.0.0.1", port, keepalive=5) == 0 and _connack(client)
    finally:
        client.disconnect()


def _connack(client: Any) -> bool:
    result: list[bool] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: result.append(not reason.is_failure)
    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        client.loop(0.1)
    return bool(result and result[0])


def _eventually(check: Callable[[], bool], timeout: float = 15) -> bool:
    """Whether ``check`` comes true within ``timeout`` seconds (the wrapper polls every 2 s)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _collector(config: Path, *args: str) -> str:
    proc = subprocess.run([FACETROVE, "collector", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_compose_mosquitto_runs_the_production_config_and_reloads_on_revoke(
    tmp_path: Path,
) -> None:
    """The compose Mosquitto for real, minus Docker: mosquitto-run.sh with the compose main
    config including deploy/mosquitto.conf (ports and paths moved into tmp_path, nothing else
    changed), fed by the collector's own `device add` / `device revoke` / `export-mosquitto`."""
    _mosquitto()
    devices_port, collector_port = free_port(), free_port()
    files, auth, data, confd = (tmp_path / n for n in ("files", "auth", "data", "conf.d"))
    confd.mkdir()
    production = (DEPLOY / "mosquitto.conf").read_text()
    for old, new in (
        ("listener 1883\n", f"listener {devices_port} 127.0.0.1\n"),
        ("listener 1884 127.0.0.1\n", f"listener {collector_port} 127.0.0.1\n"),
        ("/etc/mosquitto/facetrove/", f"{auth}/"),
        ("persistence_location /var/lib/mosquitto/", f"persistence_location {data}/"),
    ):
        assert old in production, f"deploy/mosquitto.conf changed: no {old!r}"
        production = production.replace(old, new)
    (confd / "facetrove.conf").write_text(production)
    main = (DEPLOY / "docker" / "mosquitto-compose.conf").read_text()
    main = main.replace("/mosquitto/config/conf.d", str(confd))
    # As root Mosquitto drops to user mosquitto, which cannot enter pytest's private tmp folder.
    (tmp_path / "mosquitto.conf").write_text("user root\n" + main)
    config = tmp_path / "collector.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'store'}\nbroker:\n  url: mqtt://127.0.0.1:{collector_port}\n"
        f"  username: collector\n  password: c-pass\n"
        f"  device_url: mqtt://127.0.0.1:{devices_port}\n  mosquitto_files: {files}\n"
    )
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "FACETROVE_FILES": str(files),
        "MOSQUITTO_AUTH": str(auth),
        "MOSQUITTO_CONF": str(tmp_path / "mosquitto.conf"),
        "MOSQUITTO_DATA": str(data),
        "MOSQUITTO_USER": "root",
    }
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(["sh", str(DEPLOY / "docker" / "mosquitto-run.sh")], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        time.sleep(1.5)
        assert proc.poll() is None
        assert "waiting for the collector's Mosquitto files" in (tmp_path / "run.log").read_text()
        # What the compose collector does first: write the files from its (empty) registry.
        kitchen = json.loads(_collector(config, "device", "add", "kitchen-pi", "--json"))
        hall = json.loads(_collector(config, "device", "add", "hall-pi", "--json"))
        wait_port(devices_port, timeout=15)
        wait_port(collector_port, timeout=15)
        assert oct((auth / "devices.passwd").stat().st_mode)[-3:] == "600"
        # Mosquitto starts on the first files (kitchen-pi) and reloads on the second (hall-pi).
        assert _eventually(lambda: _connects(devices_port, "hall-pi", hall["password"]))
        assert _connects(devices_port, "kitchen-pi", kitchen["password"])
        assert not _connects(devices_port, "kitchen-pi", "wrong")
        assert not _connects(devices_port, "collector", "c-pass"), (
            "collector login on devices' port"
        )
        assert _connects(collector_port, "collector", "c-pass")
        _collector(config, "device", "revoke", "kitchen-pi")
        refused = _eventually(
            lambda: not _connects(devices_port, "kitchen-pi", kitchen["password"])
        )
        assert refused, (tmp_path / "run.log").read_text()
        assert _connects(devices_port, "hall-pi", hall["password"])
        assert "Mosquitto reloaded" in (tmp_path / "run.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(15)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert rc == 0, (tmp_path / "run.log").read_text()
