"""Device logins: hashes Mosquitto reads, the rights table, registry errors, the CLI's messages."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.cli import cli
from facetrove.collector.identity.passwords import hash_password, verify_password
from facetrove.collector.identity.registry import DeviceRegistryError, add_device, revoke_device
from facetrove.collector.identity.rules import Action, Role, allowed
from facetrove.collector.store import connect
from facetrove.collector.store.device_logins import active_hashes


def test_hash_round_trip_and_tampering() -> None:
    stored = hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    for bad in ("", "$7$", "$6$abc$def", stored.replace("$7$", "$8$"), "$7$x$y$z"):
        assert not verify_password("correct horse", bad)


def test_mosquitto_passwd_hashes_verify_here() -> None:
    """A hash written by mosquitto_passwd itself (sha512-pbkdf2) verifies with ours."""
    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        pytest.skip("MISSING mosquitto_passwd (Debian package mosquitto)")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "pw"
        f.write_text("")
        subprocess.run([exe, "-b", str(f), "cam", "s3cret"], check=True)
        stored = f.read_text().strip().split(":", 1)[1]
    assert verify_password("s3cret", stored) and not verify_password("s3creT", stored)


@pytest.mark.parametrize(
    ("role", "user", "action", "topic", "ok"),
    [
        (Role.DEVICE, "cam-1", Action.PUBLISH, "facetrove/v1/cam-1/sample", True),
        (Role.DEVICE, "cam-1", Action.PUBLISH, "facetrove/v1/cam-1/status", True),
        (Role.DEVICE, "cam-1", Action.PUBLISH, "facetrove/v1/cam-1/stats", True),
        (Role.DEVICE, "cam-1", Action.PUBLISH, "facetrove/v1/cam-2/sample", False),
        (Role.DEVICE, "cam-1", Action.PUBLISH, "facetrove/v1/cam-1/config", False),
        (Role.DEVICE, "cam-1", Action.PUBLISH, "facetrove/v1/cam-1/model", False),
        (Role.DEVICE, "cam-1", Action.PUBLISH, "facetrove/v1/cam-1/receipt", False),
        (Role.DEVICE, "cam-1", Action.SUBSCRIBE, "facetrove/v1/cam-1/config", True),
        (Role.DEVICE, "cam-1", Action.SUBSCRIBE, "facetrove/v1/cam-1/receipt", True),
        (Role.DEVICE, "cam-1", Action.SUBSCRIBE, "facetrove/v1/cam-1/+", False),
        (Role.DEVICE, "cam-1", Action.SUBSCRIBE, "#", False),
        (Role.DEVICE, "cam-1", Action.SUBSCRIBE, "facetrove/v1/+/config", False),
        (Role.DEVICE, "cam-1", Action.SUBSCRIBE, "$share/ingest/facetrove/v1/+/sample", False),
        (Role.DEVICE, "cam-1", Action.RECEIVE, "facetrove/v1/cam-2/config", False),
        (Role.DEVICE, "cam-1", Action.RECEIVE, "facetrove/v1/cam-1/status", False),
        (
            Role.COLLECTOR,
            "collector",
            Action.SUBSCRIBE,
            "$share/ingest/facetrove/v1/+/sample",
            True,
        ),
        (Role.COLLECTOR, "collector", Action.PUBLISH, "facetrove/v1/cam-1/config", True),
        (Role.COLLECTOR, "collector", Action.SUBSCRIBE, "#", False),
        (None, "cam-1", Action.PUBLISH, "facetrove/v1/cam-1/sample", False),
    ],
)
def test_rights_table(role: Role | None, user: str, action: Action, topic: str, ok: bool) -> None:
    assert allowed(role, user, action, topic) is ok


def test_registry_add_revoke_readd(tmp_path: Path) -> None:
    db = connect(tmp_path / "f.db")
    first = add_device(db, "cam-1")
    with pytest.raises(DeviceRegistryError, match="already has a login"):
        add_device(db, "cam-1")
    for bad in ("facetrove-ingest", "has space", "a/b", "#", ""):
        with pytest.raises(DeviceRegistryError):
            add_device(db, bad)
    with pytest.raises(DeviceRegistryError, match="reserved"):
        add_device(db, "collector", ("collector",))
    assert verify_password(first, active_hashes(db)["cam-1"])
    assert revoke_device(db, "cam-1") and not revoke_device(db, "cam-1")
    assert active_hashes(db) == {}
    with pytest.raises(DeviceRegistryError, match="no device login 'nope'"):
        revoke_device(db, "nope")
    second = add_device(db, "cam-1")  # a revoked name can be provisioned again, new password
    assert second != first and not verify_password(first, active_hashes(db)["cam-1"])
    third = add_device(db, "cam-1", replace=True)  # an active one only with replace
    assert verify_password(third, active_hashes(db)["cam-1"])
    assert not verify_password(second, active_hashes(db)["cam-1"])
    assert first not in (tmp_path / "f.db").read_bytes().decode("latin-1")


def test_cli_messages_are_one_line(tmp_path: Path) -> None:
    run = CliRunner().invoke
    where = ["--data-dir", str(tmp_path)]
    out = run(cli, ["collector", "device", "add", "cam-1", "--json", *where])
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert {"device_id", "username", "password", "broker_url"} <= set(info)
    again = run(cli, ["collector", "device", "add", "cam-1", *where])
    assert again.exit_code == 1 and "already has a login" in again.output
    assert "Traceback" not in again.output
    gone = run(cli, ["collector", "device", "revoke", "nope", *where])
    assert gone.exit_code == 1 and "no device login 'nope' (active: cam-1)" in gone.output
    external = run(cli, ["collector", "device", "add", "cam-2", "--broker", "x", *where])
    assert external.exit_code == 2  # no such option: a usage error
    ext = run(cli, ["collector", "device", "add", "cam-2", *where],
              env={"FACETROVE_CONFIG": ""})  # fmt: skip
    assert ext.exit_code == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text("broker:\n  url: mqtt://collector:pw@127.0.0.1:1884\n")
    no_url = run(cli, ["collector", "device", "add", "cam-3", "--config", str(cfg), *where])
    assert no_url.exit_code == 1 and "set broker.device_url" in no_url.output
    listed = json.loads(run(cli, ["collector", "device", "list", "--json", *where]).output)
    assert [d["device_id"] for d in listed] == ["cam-1", "cam-2"]  # cam-3 was not created
    out_dir = tmp_path / "mq"
    exp = run(cli, ["collector", "device", "export-mosquitto", "--out", str(out_dir),
                    "--config", str(cfg), *where])  # fmt: skip
    assert exp.exit_code == 0, exp.output
    assert (out_dir / "devices.passwd").read_text().startswith("cam-1:$7$")
    assert "pattern write facetrove/v1/%u/sample" in (out_dir / "devices.acl").read_text()
    assert (out_dir / "collector.acl").read_text().splitlines()[1:] == [
        "user collector",
        "topic readwrite facetrove/v1/#",
    ]
    assert (out_dir / "devices.passwd").stat().st_mode & 0o007 == 0


def test_export_mosquitto_takes_the_collector_login_from_broker(tmp_path: Path) -> None:
    """Tried: `export-mosquitto --broker mqtt://ingest:PW@127.0.0.1:1884` with no config file,
    as `serve` and `ingest` take it. Before: no such option (exit 2), and without a config
    the command could not write collector.passwd at all. Kept: the collector's login from the
    URL in collector.passwd/.acl; a URL without a password, one clear line and no files."""
    run = CliRunner().invoke
    where = ["--data-dir", str(tmp_path / "data")]
    env = {"FACETROVE_CONFIG": ""}
    assert run(cli, ["collector", "device", "add", "cam-1", *where], env=env).exit_code == 0
    out_dir = tmp_path / "mq"
    url = "mqtt://ingest:s3cret@127.0.0.1:1884"
    exp = run(cli, ["collector", "device", "export-mosquitto", "--out", str(out_dir),
                    "--broker", url, *where], env=env)  # fmt: skip
    assert exp.exit_code == 0, exp.output
    name, hashed = (out_dir / "collector.passwd").read_text().strip().split(":", 1)
    assert name == "ingest" and verify_password("s3cret", hashed)
    assert "user ingest" in (out_dir / "collector.acl").read_text()
    assert (out_dir / "devices.passwd").read_text().startswith("cam-1:$7$")
    bare = tmp_path / "bare"
    no_pw = run(cli, ["collector", "device", "export-mosquitto", "--out", str(bare),
                      "--broker", "mqtt://127.0.0.1:1884", *where], env=env)  # fmt: skip
    assert no_pw.exit_code == 1 and "--broker" in no_pw.output, no_pw.output
    assert "Traceback" not in no_pw.output and not bare.exists()
    helped = run(cli, ["collector", "device", "export-mosquitto", "--help"])
    assert "--broker" in helped.output
