"""The systemd units in deploy/systemd/: valid, hardened, and their command lines really work.

What is tried: `systemd-analyze verify` (any warning fails: it exits 0 on a misspelt directive,
so a test shows that a misspelling is caught), `systemd-analyze security --offline` with an
exposure threshold, `systemd-sysusers` creating the user into an empty root, every facetrove
command line of the units against the real click tree, and the agent unit's ExecStart run as
systemd would run it (credential in $CREDENTIALS_DIRECTORY, %-specifiers expanded) against a
real Mosquitto that refuses a wrong password. Not tried here: booting systemd as PID 1 (this
machine has none), so Restart= and the sandbox itself are checked by systemd-analyze only.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.cli import cli
from tests.support.broker import Mosquitto
from tests.support.data import face_file, require
from tests.support.doc_blocks import ROOT

UNITS = ROOT / "deploy" / "systemd"
SERVICES = [
    "facetrove-agent.service",
    "facetrove-collector.service",
    "facetrove-prune.service",
]
FACETROVE = str(Path(sys.executable).parent / "facetrove")


def _analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        require("systemd-analyze", "install the Debian package 'systemd'")
    return str(exe)


def _verify(unit: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` of a copy whose ExecStart names this venv's facetrove (verify
    insists that the program exists; /opt/facetrove is where the guides install it)."""
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/facetrove/bin/facetrove", FACETROVE))
    return subprocess.run([_analyze(), "verify", str(copy)], capture_output=True, text=True)


class _Repeating(dict):  # type: ignore[type-arg]
    """configparser storage that keeps every value of a repeated key (unit files repeat keys)."""

    def __setitem__(self, key: str, value: object) -> None:
        if isinstance(value, list) and key in self:
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def _service(name: str, section: str = "Service") -> dict[str, list[str]]:
    """A section of the unit ([Service] unless told): key -> every value."""
    parser = configparser.RawConfigParser(strict=False, dict_type=_Repeating, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return {key: [v for v in str(value).split("\n") if v] for key, value in parser.items(section)}


@pytest.mark.parametrize("name", SERVICES)
def test_unit_verifies_without_a_single_warning(name: str, tmp_path: Path) -> None:
    proc = _verify(UNITS / name, tmp_path)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_the_retention_timer_verifies_and_starts_the_prune_service(tmp_path: Path) -> None:
    """The timer runs `collector prune` daily: verify checks it names an existing service."""
    _verify(UNITS / "facetrove-prune.service", tmp_path)  # the copy the timer will find
    timer = tmp_path / "facetrove-prune.timer"
    timer.write_text((UNITS / timer.name).read_text())
    proc = subprocess.run([_analyze(), "verify", str(timer)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    assert "collector prune" in " ".join(_service("facetrove-prune.service")["ExecStart"])


def test_a_misspelt_directive_is_caught(tmp_path: Path) -> None:
    """systemd-analyze exits 0 and only warns: the check above must read its output."""
    bad = tmp_path / "bad" / "facetrove-agent.service"
    bad.parent.mkdir()
    text = (UNITS / "facetrove-agent.service").read_text()
    bad.write_text(text.replace("ProtectSystem=strict", "ProtectSytem=strict"))
    proc = _verify(bad, tmp_path)
    assert "Unknown key" in proc.stderr and "ProtectSytem" in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_unit_is_hardened(name: str) -> None:
    proc = subprocess.run(
        [_analyze(), "security", "--offline=yes", "--threshold=25", str(UNITS / name)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    exposure = float(last.split("level for")[1].split(":")[1].split()[0])
    assert exposure <= 2.5, last  # systemd rates 0-10; a plain unit as root scores 9.6
    service = _service(name)
    assert service["User"] == ["facetrove"] and service["NoNewPrivileges"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"] and service["ProtectHome"] == ["yes"]
    assert service["PrivateTmp"] == ["yes"] and service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"], "exit 2 = bad config: do not loop"
    assert service["StateDirectory"][0].startswith("facetrove/")
    assert service["ConfigurationDirectory"] == ["facetrove"]
    assert any(v.startswith("mqtt-password:") for v in service["LoadCredential"])
    assert "FACETROVE_MQTT_PASSWORD=" not in "".join(service.get("Environment", []))
    if name == "facetrove-agent.service":
        # Without it a call outside SystemCallFilter kills the agent: MediaPipe's probe of a
        # syscall no stock kernel has did, under a booted systemd on arm64 (SIGSYS, every
        # restart; docs/raspberry-pi.md, Tested on). systemd-analyze cannot show that.
        assert service["SystemCallErrorNumber"] == ["EPERM"], service.get("SystemCallErrorNumber")
        # An unattended camera must come back by itself when its camera or network returns: a
        # start limit would stop it for good after a few failed starts (camera unplugged at
        # boot; issue-14 audit). Only exit 2 (bad config) stops it.
        assert _service(name, "Unit")["StartLimitIntervalSec"] == ["0"]
        assert int(service["RestartSec"][0]) >= 10, "no tight restart loop"


def test_sysusers_creates_the_user_in_the_video_group(tmp_path: Path) -> None:
    exe = shutil.which("systemd-sysusers")
    if exe is None:
        require("systemd-sysusers", "install the Debian package 'systemd'")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nvideo:x:44:\n")
    conf = UNITS / "facetrove.sysusers.conf"
    proc = subprocess.run([exe, f"--root={tmp_path}", str(conf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    user = next(line for line in (etc / "passwd").read_text().splitlines() if "facetrove" in line)
    name, _, uid, _gid, _gecos, home, shell = user.split(":")
    assert name == "facetrove" and 0 < int(uid) < 1000, user  # a system user
    assert home == "/var/lib/facetrove" and shell.endswith("nologin"), user
    groups = (etc / "group").read_text().splitlines()
    video = next(line for line in groups if line.startswith("video:"))
    assert video.split(":")[3] == "facetrove", video


def _facetrove_args(name: str) -> list[str]:
    """The facetrove arguments of the unit's ExecStart (systemd's %-specifiers left as they are)."""
    (line,) = _service(name)["ExecStart"]
    argv = shlex.split(line)
    assert argv[0] == "/opt/facetrove/bin/facetrove", argv
    return argv[1:]


@pytest.mark.parametrize("name", SERVICES)
def test_unit_command_lines_exist_in_the_cli(name: str) -> None:
    args = [a.replace("%E", "/etc").replace("%S", "/var/lib") for a in _facetrove_args(name)]
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"{name}: `facetrove {' '.join(args)}`: {result.output}"


def test_agent_unit_start_gets_its_password_from_the_credential(tmp_path: Path) -> None:
    """ExecStart as systemd runs it (%E expanded, $CREDENTIALS_DIRECTORY set, no password in the
    environment), with the config the unit expects (`password: ${credential:mqtt-password}`):
    with the right credential the agent delivers to a Mosquitto that requires it, with a wrong one
    it exits 3, so the password really came from the credential."""
    broker = Mosquitto(tmp_path / "mq", passwords={"kitchen-pi": "s3cret pass"}).start()
    try:
        etc = tmp_path / "etc"
        (etc / "facetrove").mkdir(parents=True)
        photos = tmp_path / "photos"
        photos.mkdir()
        shutil.copy(face_file("single_face.jpg"), photos)
        (etc / "facetrove" / "agent.yaml").write_text(
            f"device_id: kitchen-pi\nsource:\n  spec: {photos}\n"
            f"broker:\n  url: {broker.url}\n  username: kitchen-pi\n"
            "  password: ${credential:mqtt-password}\n  connect_timeout_s: 3\n"
            f"outbox:\n  path: {tmp_path / 'o.db'}\n"
            # No collector here to send receipts: the PUBACK confirms (this test is about the
            # credential, tests/collector/test_delivery_kill.py about receipts).
            "receipts:\n  enabled: false\n"
        )
        args = [a.replace("%E", str(etc)) for a in _facetrove_args("facetrove-agent.service")]
        results = {}
        for password in ("s3cret pass", "wrong"):
            creds = tmp_path / f"creds-{password[:5]}"
            creds.mkdir()
            (creds / "mqtt-password").write_text(password + "\n")
            env = {k: v for k, v in os.environ.items() if "PASSWORD" not in k}
            env["CREDENTIALS_DIRECTORY"] = str(creds)
            results[password] = subprocess.run(
                [FACETROVE, *args, "--summary-json"],
                env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            (tmp_path / "o.db").unlink(missing_ok=True)
        good, bad = results["s3cret pass"], results["wrong"]
        assert good.returncode == 0, good.stderr[-2000:]
        assert json.loads(good.stdout.splitlines()[-1])["samples_sent"] >= 1, good.stdout
        assert bad.returncode == 3 and "not authorised" in bad.stderr, bad.stderr[-2000:]
    finally:
        broker.stop()


@pytest.mark.parametrize("name", SERVICES)
def test_a_bad_config_makes_the_command_line_exit_2(name: str, tmp_path: Path) -> None:
    """RestartPreventExitStatus=2 relies on it (issue-14 audit: the collector's commands exited 1
    on a config error, so `serve` was restarted and the prune timer's service retried it every
    10 minutes for ever)."""
    etc = tmp_path / "etc"
    (etc / "facetrove").mkdir(parents=True)
    for config in ("agent.yaml", "collector.yaml"):
        (etc / "facetrove" / config).write_text("ingest:\n  batch_mx: 3\ndevice_idd: x\n")
    args = [
        a.replace("%E", str(etc)).replace("%S", str(tmp_path / "state"))
        for a in _facetrove_args(name)
    ]
    proc = subprocess.run([FACETROVE, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (name, proc.returncode, proc.stderr[-2000:])
    assert "unknown key" in proc.stderr, proc.stderr[-2000:]


def test_units_sharing_a_state_directory_give_it_one_mode() -> None:
    """systemd applies StateDirectoryMode= (default 0755) to the folder at each start: the prune
    unit (no mode: 0755) and the collector's (0750) disagreed about the data folder."""
    modes: dict[str, set[str]] = {}
    for name in SERVICES:
        service = _service(name)
        for folder in service["StateDirectory"]:
            modes.setdefault(folder, set()).update(service.get("StateDirectoryMode", ["0755"]))
    assert all(len(m) == 1 for m in modes.values()), modes
