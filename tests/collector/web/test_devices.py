"""Device health and config: a new AgentConfig revision is stored and published retained."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from facetrove import wire
from facetrove.collector.config import CollectorConfig
from facetrove.collector.web import create_app
from facetrove.collector.web.publish import MqttPublisher
from tests.collector.web.conftest import AuthActions

STATS = {
    "device_id": "cam-kitchen",
    "at": "2026-11-24T12:00:00+00:00",
    "fps": 14.5,
    "outbox_depth": 3,
    "drops": {"blur": 12, "small_face": 4},
    "model_id": "emotion-mini-xception@1",
    "config_revision": 0,
}


def _with_stats(store):  # type: ignore[no-untyped-def]
    store.execute("UPDATE devices SET stats = ? WHERE id = 'cam-kitchen'", [json.dumps(STATS)])


def test_devices_page_shows_health_from_stats(client, auth, store, samples):
    _with_stats(store)
    auth.login()
    html = client.get("/devices/").get_data(as_text=True)
    for text in (
        "cam-kitchen",
        "cam-lobby",
        "14.5",
        "blur 12",
        "small_face 4",
        "emotion-mini-xception@1",
        "online",
    ):
        assert text in html, text
    api = client.get("/api/devices").get_json()["devices"]
    kitchen = next(d for d in api if d["id"] == "cam-kitchen")
    assert kitchen["fps"] == 14.5 and kitchen["outbox_depth"] == 3


def test_config_form_builds_agent_config_with_next_revision(
    client, auth, store, samples, publisher
):
    auth.login()
    form = {
        "csrf_token": auth.token,
        "paused": "on",
        "per_minute": "6",
        "min_face_px": "48",
        "prefer_uncertain": "on",
        "target_fear": "2.5",
        "target_happy": "1",
    }
    resp = client.post("/devices/cam-kitchen", data=form)
    assert resp.status_code == 302
    assert "Saved and published config revision 1" in client.get("/devices/cam-kitchen").get_data(
        as_text=True
    )
    topic, payload, qos, retain = publisher.sent[-1]
    assert topic == wire.topic("cam-kitchen", wire.Kind.CONFIG) and qos == 1 and retain
    cfg = wire.AgentConfig.model_validate_json(payload)
    assert cfg.revision == 1 and cfg.paused and cfg.sampling.per_minute == 6
    assert cfg.sampling.prefer_uncertain is True and cfg.quality.min_face_px == 48
    assert cfg.class_targets == {"fear": 2.5}
    client.post("/devices/cam-kitchen/pause", data={"csrf_token": auth.token, "paused": "0"})
    cfg2 = wire.AgentConfig.model_validate_json(publisher.sent[-1][1])
    assert cfg2.revision == 2 and not cfg2.paused and cfg2.sampling.per_minute == 6
    stored = store.execute("SELECT config_revision FROM devices WHERE id = 'cam-kitchen'")
    assert stored.fetchone()[0] == 2
    assert (
        store.execute("SELECT COUNT(*) FROM audit WHERE action = 'device.config'").fetchone()[0]
        == 2
    )


def test_bad_config_is_refused_and_the_old_one_kept(client, auth, store, samples, publisher):
    """Tried: a negative rate and a word for a number. Kept: revision 0, nothing published."""
    auth.login()
    h = auth.headers()
    resp = client.put(
        "/api/devices/cam-kitchen/config", json={"sampling": {"per_minute": -1}}, headers=h
    )
    assert resp.status_code == 400 and "per_minute" in resp.get_json()["error"]
    resp = client.put(
        "/api/devices/cam-kitchen/config", json={"quality": {"min_blur": "lots"}}, headers=h
    )
    assert resp.status_code == 400 and "min_blur must be a number" in resp.get_json()["error"]
    assert client.put("/api/devices/nope/config", json={}, headers=h).status_code == 404
    assert publisher.sent == []
    row = store.execute("SELECT config_revision FROM devices WHERE id = 'cam-kitchen'").fetchone()
    assert row[0] == 0


def test_reviewer_cannot_change_a_device(client, store, samples, publisher):
    auth = AuthActions(client)
    auth.login("bob")
    resp = client.put(
        "/api/devices/cam-kitchen/config", json={"paused": True}, headers=auth.headers()
    )
    assert resp.status_code == 403
    assert client.post("/devices/cam-kitchen", data={"csrf_token": auth.token}).status_code == 403
    assert publisher.sent == []


def test_config_arrives_retained_at_a_real_broker(tmp_path: Path, mosquitto, store, samples):
    """End to end: PUT config -> paho publisher -> Mosquitto -> a later subscriber gets it."""
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "broker": {"url": mosquitto.url},
            "web": {"secret_key": "k" * 40},
        }
    )
    app = create_app(config, {"TESTING": True})
    assert isinstance(app.extensions["facetrove.publisher"], MqttPublisher)
    client = app.test_client()
    auth = AuthActions(client)
    auth.login()
    try:
        resp = client.put(
            "/api/devices/cam-lobby/config",
            json={"paused": True, "class_targets": {"sad": 3}},
            headers=auth.headers(),
        )
        assert resp.get_json()["published"] is True, resp.get_json()
    finally:
        app.extensions["facetrove.publisher"].close()
    got: list[bytes] = []
    done = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub")

    def on_message(_c, _u, msg):  # type: ignore[no-untyped-def]
        got.append(msg.payload)
        done.set()

    sub.on_message = on_message
    sub.on_connect = lambda c, *_: c.subscribe(wire.topic("cam-lobby", wire.Kind.CONFIG), qos=1)
    sub.connect("127.0.0.1", mosquitto.port)
    sub.loop_start()
    try:
        assert done.wait(10), "no retained config arrived"
    finally:
        sub.loop_stop()
        sub.disconnect()
    cfg = wire.AgentConfig.model_validate_json(got[0])
    assert cfg.revision == 1 and cfg.paused and cfg.class_targets == {"sad": 3.0}


def test_publish_failure_keeps_the_config(tmp_path: Path, store, samples):
    """Tried: a broker that is not there. Kept: the new revision in the store, published false."""
    from tests.support.broker import free_port

    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "broker": {"url": f"mqtt://127.0.0.1:{free_port()}"},
            "web": {"secret_key": "k" * 40},
        }
    )
    app = create_app(config, {"TESTING": True})
    client = app.test_client()
    auth = AuthActions(client)
    auth.login()
    body = client.put(
        "/api/devices/cam-lobby/config", json={"paused": True}, headers=auth.headers()
    ).get_json()
    assert body["published"] is False and "cannot reach the broker" in body["error"]
    row = store.execute("SELECT config FROM devices WHERE id = 'cam-lobby'").fetchone()
    assert json.loads(row[0])["paused"] is True
