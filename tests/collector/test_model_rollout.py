"""The model registry and rollouts: real SQLite, the real `facetrove collector model` CLI, a real
Mosquitto carrying the retained announcements, the real device download endpoint."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from facetrove import models, wire
from facetrove.collector.cli import collector
from facetrove.collector.config import CollectorConfig
from facetrove.collector.identity.passwords import hash_password
from facetrove.collector.store import DB_NAME, connect, device_logins
from facetrove.collector.store import models as registry
from facetrove.collector.store.db import now_iso
from facetrove.collector.web import create_app
from tests.collector.identity_helpers import Mqtt
from tests.collector.model_helpers import model_folder
from tests.support.broker import Mosquitto

A, B = "cam-a", "cam-b"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    db = connect(data / DB_NAME)
    for device in (A, B):
        device_logins.add_login(db, device, hash_password("pw-" + device, 1000), now_iso())
    db.close()
    for name in ("emo-1", "emo-2"):
        model_folder(data, name)
    return data


def _cli(data: Path, port: int, *args: str) -> Any:
    config = _config(data, port)
    return CliRunner().invoke(collector, ["model", *args, "--config", str(config)])


def _config(data: Path, port: int) -> Path:
    path = data.parent / "collector.yaml"
    path.write_text(json.dumps({"data_dir": str(data), "broker": {"url": f"mqtt://127.0.0.1:{port}"},
                                "web": {"port": 8765}}))  # fmt: skip
    return path


def _announcements(port: int) -> dict[str, bytes]:
    """device -> the retained announcement on the broker now."""
    sub = Mqtt(port, "watcher", "x", "watcher-" + str(time.monotonic_ns()))
    sub.subscribe(wire.subscription(wire.Kind.MODEL))
    time.sleep(0.5)
    sub.close()
    out = {}
    for topic, payload, retain in sub.messages:
        assert retain
        out[wire.parse_topic(topic)[0]] = payload
    return out


def _retained(port: int) -> dict[str, str]:
    """device -> model id of the retained announcements on the broker now."""
    return {d: json.loads(p)["model_id"] for d, p in _announcements(port).items()}


def _status(data: Path) -> dict[str, str]:
    db = connect(data / DB_NAME)
    try:
        return {m.id: m.status for m in registry.list_models(db)}
    finally:
        db.close()


def test_canary_then_all_then_rollback_through_a_real_broker(data: Path, tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    try:
        port = broker.port
        listed = _cli(data, port, "list")
        assert listed.exit_code == 0, listed.output
        assert "emo-1" in listed.output and "candidate" in listed.output  # found on disk
        # the shipped model is a registry entry too, deployed until something else is
        assert "bundled" in listed.output.splitlines()[1]
        assert _status(data) == {"bundled": "deployed", "emo-1": "candidate", "emo-2": "candidate"}

        out = _cli(data, port, "rollout", "emo-1", "--all")
        assert out.exit_code == 0, out.output
        assert _retained(port) == {A: "emo-1", B: "emo-1"}
        out = _cli(data, port, "rollout", "emo-2", "--devices", A)
        assert out.exit_code == 0, out.output
        assert _retained(port) == {A: "emo-2", B: "emo-1"}  # the canary only
        assert _status(data) == {"bundled": "retired", "emo-1": "deployed", "emo-2": "canary"}
        ann = wire.ModelAnnouncement.model_validate_json(_announcements(port)[A])
        assert ann.url.endswith("/device/models/emo-2/model.onnx")
        assert ann.sha256 == registry_sha(data, "emo-2")

        out = _cli(data, port, "rollout", "emo-2", "--all")
        assert out.exit_code == 0, out.output
        assert _retained(port) == {A: "emo-2", B: "emo-2"}
        assert _status(data) == {"bundled": "retired", "emo-1": "retired", "emo-2": "deployed"}

        out = _cli(data, port, "rollback")  # to the one deployed before
        assert out.exit_code == 0, out.output
        assert _retained(port) == {A: "emo-1", B: "emo-1"}
        assert _status(data) == {"bundled": "retired", "emo-1": "deployed", "emo-2": "retired"}
        history = json.loads(_cli(data, port, "show", "emo-1").output)["history"]
        assert [h["action"] for h in history] == ["rollout", "rollback"]

        # back to the shipped model, by name: announced with its own file and sha256
        out = _cli(data, port, "rollback", "bundled")
        assert out.exit_code == 0, out.output
        assert _retained(port) == {A: "bundled", B: "bundled"}
        assert _status(data) == {"bundled": "deployed", "emo-1": "retired", "emo-2": "retired"}
        ann = wire.ModelAnnouncement.model_validate_json(_announcements(port)[B])
        assert ann.url.endswith("/device/models/bundled/model.onnx")
        assert ann.sha256 == models.SHA256[models.EMOTION_ONNX]
        assert ann.classes == list(models.EMOTION_CLASSES)
        shown = json.loads(_cli(data, port, "show", "bundled").output)
        assert shown["devices"] == ["*"] and shown["history"][-1]["action"] == "rollback"
    finally:
        broker.stop()


def registry_sha(data: Path, model_id: str) -> str:
    db = connect(data / DB_NAME)
    try:
        return registry.get(db, model_id).sha256
    finally:
        db.close()


def test_what_a_newcomer_or_an_attacker_gets_wrong(data: Path, tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    try:
        port = broker.port
        cases = [
            (
                ("rollout", "emo-9", "--all"),
                "no registered model 'emo-9' (known: bundled, emo-1, emo-2)",
            ),
            (("rollout", "emo-1", "--devices", "cam-x"), "unknown device(s) cam-x"),
            (("rollout", "emo-1"), "give either --devices a,b (canary) or --all"),
            (("rollout", "emo-1", "--all", "--devices", A), "give either --devices"),
            (("rollback",), "no earlier model was deployed to all devices"),
            (("show", "nope"), "no registered model 'nope'"),
        ]
        for args, message in cases:
            out = _cli(data, port, *args)
            assert out.exit_code != 0 and message in out.output, (args, out.output)
            assert "Traceback" not in out.output
        # A model file changed after training is not rolled out, and nothing is announced.
        onnx = data / "models" / "emo-2" / "model.onnx"
        onnx.write_bytes(onnx.read_bytes() + b"\0")
        out = _cli(data, port, "rollout", "emo-2", "--all")
        assert out.exit_code != 0 and "the file changed after training" in out.output
        assert _retained(port) == {}
        assert _status(data)["emo-2"] == "candidate"
    finally:
        broker.stop()
    # Broker down: the rollout is saved, the command says so and fails; run again once it is up.
    out = _cli(data, port, "rollout", "emo-1", "--devices", B)
    assert out.exit_code != 0 and "saved, but not announced to cam-b" in out.output, out.output
    assert _status(data)["emo-1"] == "canary"
    broker = Mosquitto(tmp_path / "mq", port)
    broker.start()
    try:
        out = _cli(data, port, "rollout", "emo-1", "--devices", B)
        assert out.exit_code == 0, out.output
        assert _retained(port) == {B: "emo-1"}
    finally:
        broker.stop()


def test_imported_faces_are_not_a_device_to_roll_out_to(data: Path, tmp_path: Path) -> None:
    """Samples of a `collector import` are stored under the device id 'import': a rollout to
    all must not announce a model to it, and it cannot be chosen as a canary."""
    from tests.collector.importer.conftest import write_crops

    write_crops(tmp_path / "faces", per_face=1)
    imported = CliRunner().invoke(
        collector, ["import", str(tmp_path / "faces"), "--data-dir", str(data), "--quiet"]
    )
    assert imported.exit_code == 0, imported.output
    named = CliRunner().invoke(collector, ["device", "add", "import", "--data-dir", str(data)])
    assert named.exit_code != 0 and "reserved" in named.output, named.output
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    try:
        out = _cli(data, broker.port, "rollout", "emo-1", "--devices", "import")
        assert out.exit_code != 0 and "unknown device(s) import" in out.output, out.output
        out = _cli(data, broker.port, "rollout", "emo-1", "--all")
        assert out.exit_code == 0 and "announced to 2" in out.output, out.output
        assert _retained(broker.port) == {A: "emo-1", B: "emo-1"}
    finally:
        broker.stop()


def _basic(login: tuple[str, str] | None) -> dict[str, str]:
    if not login:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(":".join(login).encode()).decode()}


def _get(client: Any, path: str, login: tuple[str, str] | None) -> int:
    return int(client.get(path, headers=_basic(login)).status_code)


def test_a_device_downloads_only_the_model_it_is_assigned(data: Path) -> None:
    config = CollectorConfig.model_validate(
        {"data_dir": str(data), "web": {"secret_key": "test-" + "k" * 40}}
    )
    client = create_app(config, {"TESTING": True, "FACETROVE_PUBLISHER": object()}).test_client()
    login = (A, "pw-" + A)
    url = "/device/models/{}/model.onnx"
    # On disk but never registered (say, copied in by hand): not served.
    assert _get(client, url.format("emo-1"), login) == 404
    db = connect(data / DB_NAME)
    from facetrove.collector.rollout import sync_folders

    assert sync_folders(db, data) == ["emo-1", "emo-2"]
    assert _get(client, url.format("emo-1"), None) == 401
    # A candidate is assigned to no device: no device may fetch it (a stolen device's login
    # must not hand out every model trained on the store's faces).
    assert _get(client, url.format("emo-1"), login) == 404
    assert _get(client, url.format("bundled"), login) == 200  # every device runs it by default
    # A canary is served to its devices only, not with another device's login.
    registry.assign(db, "emo-1", [A], "rollout")
    assert _get(client, url.format("emo-1"), login) == 200
    assert _get(client, url.format("emo-1"), (B, "pw-" + B)) == 404
    assert _get(client, url.format("bundled"), login) == 404  # A is told emo-1 now
    assert _get(client, url.format("bundled"), (B, "pw-" + B)) == 200
    assert _get(client, url.format("emo-1"), (A, "pw-" + B)) == 401  # B's password for A
    registry.assign(db, "emo-1", None, "rollout")
    assert _get(client, url.format("emo-1"), (B, "pw-" + B)) == 200  # deployed: every device
    registry.assign(db, "emo-2", None, "rollout")  # emo-1 retired
    assert _get(client, url.format("emo-1"), login) == 404
    assert _get(client, url.format("emo-2"), login) == 200
    assert _get(client, url.format("emo-3"), login) == 404
    # The shipped model: served like a trained one while it is not retired (a rollback target).
    assert _get(client, url.format("bundled"), login) == 404  # retired: emo-2 is deployed
    registry.assign(db, "bundled", [A], "rollback")
    assert _get(client, url.format("emo-2"), login) == 404  # A is rolled back to bundled
    resp = client.get(url.format("bundled"), headers=_basic(login))
    assert resp.status_code == 200
    assert hashlib.sha256(resp.data).hexdigest() == models.SHA256[models.EMOTION_ONNX]
    db.close()


def test_a_model_id_registered_with_other_bytes_is_refused(data: Path) -> None:
    from facetrove.collector.rollout import register_folder

    db = connect(data / DB_NAME)
    assert register_folder(db, data, "emo-1") is True
    assert register_folder(db, data, "emo-1") is False  # again: nothing changes
    onnx = data / "models" / "emo-1" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(registry.ModelExists, match="registered with sha256"):
        register_folder(db, data, "emo-1")
    db.close()
