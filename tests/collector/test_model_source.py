"""Model announcements only from the collector: a real agent provisioned with `device add`, a
real `collector serve` serving a trained model at /device/models/, and a second HTTP server on
another port holding the very same file. An announcement pointing there is refused without a
single request to it; the collector's own is fetched logged in as the device and used."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from facetrove import wire
from tests.agent.agent_process import start_agent
from tests.collector.identity_helpers import Mqtt, add_device, device_cli, wait_until
from tests.collector.ingest_helpers import FACETROVE
from tests.support.broker import free_port, wait_port

DEVICE = "cam-m"


class Recorder:
    """An HTTP server that serves one file and records every request it gets."""

    def __init__(self, body: bytes) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_a: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _get(url: str, login: tuple[str, str] | None) -> int:
    req = urllib.request.Request(url)
    if login:
        import base64

        req.add_header(
            "Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode()
        )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _model_ids(data: Path) -> list[str]:
    from facetrove.collector.store import DB_NAME, connect

    db = connect(data / DB_NAME)
    try:
        rows = db.conn.execute(
            "SELECT prelabel_model_id FROM samples ORDER BY captured_at, id"
        ).fetchall()
        return [str(r[0]) for r in rows]
    finally:
        db.close()


def _register(data: Path, model_id: str, sha: str, size: int, classes: list[str]) -> None:
    """Into the model registry, as `collector train` does (only registered models are served)."""
    from facetrove.collector.store import DB_NAME, connect
    from facetrove.collector.store import models as registry

    db = connect(data / DB_NAME)
    try:
        registry.register(db, model_id, sha256=sha, size=size, parent=None, version_id=None,
                          classes=classes, metrics={}, created_at="2026-01-01")  # fmt: skip
    finally:
        db.close()


def _assign(data: Path, model_id: str, devices: list[str] | None) -> None:
    """A rollout's record in the store (what `collector model rollout` commits first)."""
    from facetrove.collector.store import DB_NAME, connect
    from facetrove.collector.store import models as registry

    db = connect(data / DB_NAME)
    try:
        registry.assign(db, model_id, devices, "rollout")
    finally:
        db.close()


def test_agent_takes_models_only_from_its_collector(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from facetrove import models

    data = tmp_path / "data"
    port, web = free_port(), free_port()
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data), "web": {"port": web},
                                   "broker": {"embedded_port": port}}))  # fmt: skip
    # A trained model where `collector train` puts it: the shipped one with one more metadata
    # entry, so other bytes.
    model = onnx.load(str(models.path(models.EMOTION_ONNX)))
    model.metadata_props.add(key="revision", value="2")
    folder = data / "models" / "emo-v2"
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    body = (folder / "model.onnx").read_bytes()
    sha = hashlib.sha256(body).hexdigest()
    _register(data, "emo-v2", sha, len(body), list(models.EMOTION_CLASSES))
    login = add_device(data, DEVICE, "--config", str(cfg))
    other = add_device(data, "cam-other", "--config", str(cfg))
    assert login["collector_url"] == f"http://127.0.0.1:{web}"
    evil = Recorder(body)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([FACETROVE, "collector", "serve", "--config", str(cfg)],
                                 stdout=out, stderr=out)  # fmt: skip
    agent = None
    try:
        wait_port(port, 30)
        wait_port(web, 60)
        assert wait_until(lambda: "subscribed" in log.read_text(), 30)
        own_url = f"{login['collector_url']}/device/models/emo-v2/model.onnx"
        # The endpoint answers only a device's own login.
        assert _get(own_url, None) == 401
        assert _get(own_url, (DEVICE, "wrong")) == 401
        assert _get(own_url, (DEVICE, login["password"])) == 404  # a candidate: nobody's yet
        assert _get(f"{login['collector_url']}/device/models/../users/model.onnx",
                    (DEVICE, login["password"])) == 404  # fmt: skip
        collector_pw = json.loads((data / "broker" / "credentials.json").read_text())["collector"]

        def announce(model_id: str, url: str) -> None:
            ann = wire.ModelAnnouncement(model_id=model_id, sha256=sha, url=url, size=len(body),
                                         classes=list(models.EMOTION_CLASSES))  # fmt: skip
            admin = Mqtt(port, "collector", collector_pw, "facetrove-web-test")
            admin.publish(wire.topic(DEVICE, wire.Kind.MODEL), ann.model_dump_json().encode(),
                          retain=True)  # fmt: skip
            admin.close()

        announce("emo-elsewhere", f"http://127.0.0.1:{evil.port}/device/models/emo-v2/model.onnx")
        broker = f"mqtt://{DEVICE}:{login['password']}@127.0.0.1:{port}"
        agent = start_agent(tmp_path / "a", broker, DEVICE, "--max-fps", "12", "--set",
                            f"model_updates.collector_url={login['collector_url']}")  # fmt: skip
        agent.wait_for("not from this device's collector", 60)
        assert wait_until(lambda: len(_model_ids(data)) >= 2, 60)
        _assign(data, "emo-v2", [DEVICE])  # canary: served to this device only
        assert _get(own_url, (DEVICE, login["password"])) == 200
        assert _get(own_url, ("cam-other", other["password"])) == 404
        announce("emo-v2", own_url)
        rc, summary = agent.wait(120)
        assert rc == 0, agent.stderr[-3000:]
        assert evil.paths == [], "the agent asked another host for a model"
        assert wait_until(lambda: len(_model_ids(data)) >= len(summary["accepted_ids"]), 30)
        used = _model_ids(data)
        assert used[0] != "emo-v2" and used[-1] == "emo-v2", used
        assert "emo-elsewhere" not in used
        kept = sorted(p.name for p in (tmp_path / "a" / "models").iterdir())
        assert kept == [f"{sha}.onnx"]  # nothing partial, nothing from elsewhere
        # Another device's login works for its own downloads; a revoked one no longer does.
        _assign(data, "emo-v2", None)  # deployed to every device
        assert _get(own_url, ("cam-other", other["password"])) == 200
        assert device_cli(data, "revoke", "cam-other").returncode == 0
        assert _get(own_url, ("cam-other", other["password"])) == 401
    finally:
        if agent is not None:
            agent.stop()
        serve.terminate()
        serve.wait(30)
        evil.close()
