"""The embedded broker (amqtt in-process) with real paho clients and real ingest processes."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from facetrove.collector.broker import EmbeddedBroker, ensure_credentials
from tests.collector.identity_helpers import add_device
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, Publisher, wait_rows
from tests.collector.test_reliability import assert_store_exact, publish_all
from tests.support.broker import free_port, wait_port
from tests.support.samples import many_samples


def test_credentials_are_generated_once_and_hashed(tmp_path: Path) -> None:
    first = ensure_credentials(tmp_path, ("collector", "agent"))
    again = ensure_credentials(tmp_path, ("collector", "agent"))
    assert first.users == again.users and len(set(first.users.values())) == 2
    text = first.password_file.read_text()
    assert first.users["agent"] not in text and "agent:$argon2" in text
    assert (tmp_path / "broker" / "credentials.json").stat().st_mode & 0o077 == 0


def test_serve_embedded_end_to_end_and_anonymous_refused(tmp_path: Path) -> None:
    """Tried: `facetrove collector serve` with no broker configured; an agent-like paho client
    (MQTT 3.1.1, the login printed by `device add`) publishes 300 samples at QoS 1; an anonymous
    client and a wrong password try to connect. Kept: all 300 samples; both intruders refused."""
    data = tmp_path / "data"
    device = add_device(data, "cam-00")
    port, web_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port",
             str(port), "--port", str(web_port)],
            stdout=out, stderr=out,
        )  # fmt: skip
    pub = None
    try:
        wait_port(port, 20)
        deadline = time.monotonic() + 20
        while "subscribed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "facetrove collector device add NAME" in log.read_text()
        with pytest.raises(ConnectionRefusedError, match="Not authorized"):
            Publisher(port, "anonymous-cam")
        with pytest.raises(ConnectionRefusedError, match="Not authorized"):
            Publisher(port, "guessing-cam", username="cam-00", password="wrong")
        samples = many_samples(300, devices=1, tag="embedded")
        pub = Publisher(port, "cam-agent", username="cam-00", password=device["password"])
        for s in samples:
            pub.publish(s.device_id, s.payload)
        pub.wait_acked(300, timeout=60)
        assert wait_rows(data, 300, timeout=60) == 300
    finally:
        if pub:
            pub.close()
        proc.terminate()
        code = proc.wait(30)
    assert code == 0, log.read_text()[-2000:]
    assert "stopped" in log.read_text()
    assert_store_exact(data, samples)


def test_embedded_broker_keeps_session_across_ingest_kill(tmp_path: Path) -> None:
    """Tried: 2,000 samples through the embedded broker while the ingest process is SIGKILLed
    once and restarted. Kept: exactly 2,000 rows, byte-identical: amqtt kept the ingest's
    persistent session (it has a username) and redelivered what was never acknowledged."""
    data = tmp_path / "data"
    creds = ensure_credentials(data, ("collector", "agent"))
    port = free_port()
    broker = EmbeddedBroker("127.0.0.1", port, creds.password_file).start()
    url = f"mqtt://collector:{creds.password('collector')}@127.0.0.1:{port}"
    ingest = IngestProcess(data, url)
    samples = many_samples(2_000, tag="amqtt-kill")
    pub = None
    try:
        ingest.start()
        pub = Publisher(port, "cam-agent", username="agent", password=creds.password("agent"))
        sender: threading.Thread = publish_all(pub, samples, pace_every=200)
        assert wait_rows(data, 500, timeout=60) >= 500
        ingest.kill()
        time.sleep(0.5)
        ingest.start()
        sender.join(60)
        pub.wait_acked(2_000, timeout=60)
        assert wait_rows(data, 2_000, timeout=60) == 2_000
        time.sleep(0.5)
    finally:
        if pub:
            pub.close()
        ingest.stop()
        broker.stop()
    assert_store_exact(data, samples)


def test_embedded_broker_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    creds = ensure_credentials(tmp_path, ("collector",))
    port = free_port()
    first = EmbeddedBroker("127.0.0.1", port, creds.password_file).start()
    try:
        result = subprocess.run(
            [FACETROVE, "collector", "serve", "--data-dir", str(tmp_path / "d"), "--broker-port",
             str(port), "--port", str(free_port())],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        first.stop()
    assert result.returncode == 1
    assert f"cannot start the embedded broker on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_password_cannot_touch_a_live_session(tmp_path: Path) -> None:
    """Tried: while a persistent client is connected and subscribed, 12 connections with its
    client id and a wrong password (half asking for a clean session, which would delete it), then
    one without any username. Kept: every one is refused, the legitimate client is never
    disconnected, and it still receives what is published afterwards."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    creds = ensure_credentials(tmp_path / "data", ("collector", "agent"))
    port = free_port()
    broker = EmbeddedBroker("127.0.0.1", port, creds.password_file).start()
    got: list[bytes] = []
    drops: list[object] = []
    victim = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ingest-1", clean_session=False)
    victim.username_pw_set("collector", creds.password("collector"))
    victim.on_message = lambda _c, _u, msg: got.append(msg.payload)
    victim.on_disconnect = lambda *args: drops.append(args[3])
    try:
        victim.connect("127.0.0.1", port)
        victim.loop_start()
        victim.subscribe("facetrove/v1/+/sample", qos=1)
        time.sleep(0.5)
        refusals = []
        for i in range(13):
            intruder = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id="ingest-1", clean_session=i % 2 == 0
            )
            if i < 12:
                intruder.username_pw_set("collector", f"wrong-{i}")
            codes: list[object] = []
            intruder.on_connect = lambda _c, _u, _f, rc, _p, codes=codes: codes.append(rc)
            intruder.connect("127.0.0.1", port)
            deadline = time.monotonic() + 5
            while not codes and time.monotonic() < deadline:
                intruder.loop(0.1)
            intruder.disconnect()
            refusals.append(codes[0].is_failure if codes else True)  # type: ignore[attr-defined]
        assert all(refusals), f"an intruder got in: {refusals}"
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub-1")
        pub.username_pw_set("agent", creds.password("agent"))
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        pub.publish("facetrove/v1/cam-1/sample", b"still here", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.1)
        pub.loop_stop()
        pub.disconnect()
        assert got == [b"still here"]
        assert drops == [], f"the legitimate client was disconnected: {drops}"
    finally:
        victim.loop_stop()
        victim.disconnect()
        broker.stop()
