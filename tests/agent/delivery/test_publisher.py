"""Runner + publisher in-process against a real Mosquitto, with a pipeline test double.

The capture stages are replaced by ``FakePipeline`` (real JPEG crops, real wire headers) so these
tests look at delivery only: order, status, stats, retained config, MQTT 5, bad TLS files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facetrove import wire
from facetrove.agent.capture.quality import QualityGate
from facetrove.agent.capture.source import ArraySource
from facetrove.agent.config import AgentConfig
from facetrove.agent.config.capture import QualityConfig
from facetrove.agent.outcome import EXIT_CONFIG, EXIT_OK, EXIT_UNDELIVERED
from facetrove.agent.runner import Runner
from tests.agent.delivery_support import FakePipeline, Listener, face_crop, frames, publish_retained
from tests.support.broker import Mosquitto
from tests.support.data import face_file


@pytest.fixture(scope="module")
def crop() -> bytes:
    return face_crop(face_file("single_face.jpg"))


def _config(tmp_path: Path, port: int, device: str, **extra: Any) -> AgentConfig:
    data: dict[str, Any] = {
        "device_id": device,
        "source": {"spec": "frames.mp4"},  # a finite source: the run ends when drained
        "broker": {"url": f"mqtt://127.0.0.1:{port}", "reconnect_max_s": 1},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "run": {"stats_interval_s": 0.2, "flush_timeout_s": 5, "drain_timeout_s": 30},
    }
    for key, value in extra.items():
        data[key] = {**data.get(key, {}), **value}
    return AgentConfig.model_validate(data)


def _slow(n: int, delay: float) -> Iterator[Any]:
    for image in frames(n):
        time.sleep(delay)
        yield image


def test_every_sample_arrives_once_in_order(
    tmp_path: Path, mosquitto: Mosquitto, crop: bytes
) -> None:
    """12 frames -> 12 samples: all decoded by the wire decoder, in outbox order, none twice;
    status goes online then offline (retained), stats carry counters; outbox empty at exit."""
    listener = Listener(mosquitto.port, "cam-1")
    pipe = FakePipeline("cam-1", crop)
    try:
        cfg = _config(tmp_path, mosquitto.port, "cam-1")
        result = Runner(
            cfg,
            source_factory=lambda c: ArraySource(frames(12)),
            pipeline_factory=lambda c, t: pipe,
        ).run()
        assert result.exit_code == EXIT_OK and result.reason == "drained", result
        ids = result.summary["accepted_ids"]
        assert len(ids) == 12
        assert listener.wait(lambda: len(listener.samples) == 12 and len(listener.statuses) >= 2)
        assert listener.order == ids
        assert listener.duplicates() == {}
        assert listener.samples[ids[0]].crop == crop
        assert listener.statuses[0]["state"] == "online"
        assert listener.statuses[-1]["state"] == "offline"
        assert listener.statuses[0]["detector"] == "fake"
        assert result.summary["outbox_depth"] == 0 and result.summary["samples_sent"] == 12
        assert pipe.closed
        last = listener.stats[-1]
        assert last["samples_sent"] == 12 and last["model_id"] == "fake-model"
    finally:
        listener.close()


def test_mqtt5_and_credentials_in_url(tmp_path: Path, crop: bytes) -> None:
    """MQTT 5 with a persistent session and user:pass from the URL against a password file."""
    broker = Mosquitto(tmp_path / "mq", passwords={"agent": "s3cret", "test": "t"}).start()
    try:
        listener = Listener(broker.port, "cam-5", user="test", pw="t")
        cfg = _config(
            tmp_path,
            broker.port,
            "cam-5",
            broker={"url": f"mqtt://agent:s3cret@127.0.0.1:{broker.port}", "protocol": "5"},
        )
        result = Runner(
            cfg,
            source_factory=lambda c: ArraySource(frames(5)),
            pipeline_factory=lambda c, t: FakePipeline("cam-5", crop),
        ).run()
        assert result.exit_code == EXIT_OK, result
        assert listener.wait(lambda: len(listener.samples) == 5)
        assert listener.order == result.summary["accepted_ids"]
        listener.close()
    finally:
        broker.stop()


def test_retained_config_pauses_and_resumes_without_restart(
    tmp_path: Path, mosquitto: Mosquitto, crop: bytes
) -> None:
    """A retained AgentConfig(paused=True) stops capture and delivery at once; the stats show
    the applied revision; a later paused=False resumes the same run, which then completes."""
    publish_retained(mosquitto.port, "cam-p", wire.Kind.CONFIG, b'{"revision": 3, "paused": true}')
    listener = Listener(mosquitto.port, "cam-p")
    pipe = FakePipeline("cam-p", crop)
    box: dict[str, Any] = {}
    cfg = _config(tmp_path, mosquitto.port, "cam-p")
    runner = Runner(
        cfg,
        source_factory=lambda c: ArraySource(_slow(8, 0.02)),
        pipeline_factory=lambda c, t: pipe,
    )
    thread = threading.Thread(target=lambda: box.setdefault("r", runner.run()))
    thread.start()
    try:
        assert listener.wait(
            lambda: any(s.get("config_revision") == 3 and s["paused"] for s in listener.stats)
        ), listener.stats[-3:]
        time.sleep(0.5)
        assert listener.samples == {} and pipe.counters.frames == 0
        publish_retained(
            mosquitto.port, "cam-p", wire.Kind.CONFIG, b'{"revision": 4, "paused": false}'
        )
        assert listener.wait(lambda: len(listener.samples) == 8)
        thread.join(30)
        assert not thread.is_alive()
        assert box["r"].exit_code == EXIT_OK and box["r"].summary["config_revision"] == 4
        assert [c.revision for c in pipe.applied][-1] == 4
    finally:
        runner.request_stop()
        thread.join(30)
        listener.close()


class _GatePipeline:
    """Applies a config to a real quality gate, as the pipeline does (pre-label off)."""

    classifier = None

    def __init__(self) -> None:
        self.gate = QualityGate()

    def apply_config(self, cfg: wire.AgentConfig) -> None:
        self.gate.apply_overrides(cfg.quality)


def test_refused_config_is_one_log_line_and_the_previous_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: a collector config whose thresholds contradict (min_brightness above the local
    max). Kept: the previous thresholds and revision; the log says why on one line, without
    pydantic's multi-line dump of the input."""
    runner = Runner(_config(tmp_path, 1, "cfg-bad"))
    pipe = _GatePipeline()
    runner.pipeline = pipe  # type: ignore[assignment]
    runner.orders.on_config(wire.AgentConfig(revision=7, quality=wire.QualityOverrides(min_blur=5)))
    runner.orders.apply_pending()
    bad = wire.QualityOverrides(min_brightness=250)
    with caplog.at_level(logging.ERROR, logger="facetrove.agent.orders"):
        runner.orders.on_config(wire.AgentConfig(revision=8, quality=bad))
        runner.orders.apply_pending()
    assert runner.revision == 7 and pipe.gate.config.min_blur == 5
    assert pipe.gate.config.min_brightness == QualityConfig().min_brightness
    [message] = [r.getMessage() for r in caplog.records]
    assert "config revision 8 refused" in message
    assert "min_brightness must be <= max_brightness" in message
    assert "\n" not in message and "input_value" not in message


def test_bad_tls_file_fails_before_capture(tmp_path: Path, crop: bytes) -> None:
    """A CA file that does not exist, or is not PEM, stops the run with exit 2 naming the file;
    the source is never opened."""
    opened: list[str] = []

    def source(_c: AgentConfig) -> ArraySource:
        opened.append("x")
        return ArraySource(frames(1))

    garbage = tmp_path / "ca.pem"
    garbage.write_text("hello")
    for ca, needle in ((tmp_path / "missing.pem", "no such file"), (garbage, "not a PEM file")):
        cfg = _config(
            tmp_path, 8883, "cam-t", broker={"url": "mqtts://127.0.0.1", "tls": {"ca_file": ca}}
        )
        result = Runner(
            cfg,
            source_factory=source,
            pipeline_factory=lambda c, t: FakePipeline("cam-t", crop),
        ).run()
        assert result.exit_code == EXIT_CONFIG
        assert str(ca) in (result.message or "") and needle in (result.message or "")
    assert opened == []


def test_live_source_keeps_retrying_an_unreachable_broker(tmp_path: Path, crop: bytes) -> None:
    """Tried: a live source (camera spec) with no broker listening. Kept: capture goes on into the
    outbox while the publisher retries with back-off (each attempt counted); a stop request
    ends the run with exit 0 and every sample still in the outbox."""
    from tests.support.broker import free_port

    def endless() -> Iterator[Any]:
        while True:
            time.sleep(0.01)
            yield frames(1)[0]

    cfg = _config(tmp_path, free_port(), "cam-l", source={"spec": "0"})
    runner = Runner(
        cfg,
        source_factory=lambda c: ArraySource(endless()),
        pipeline_factory=lambda c, t: FakePipeline("cam-l", crop, every=10),
    )
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.setdefault("r", runner.run()))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while (runner.publisher is None or runner.publisher.attempts < 3) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert thread.is_alive() and runner.publisher is not None
        assert runner.publisher.attempts >= 3
    finally:
        runner.request_stop()
        thread.join(30)
    result = box["r"]
    assert result.exit_code == EXIT_OK and result.reason == "stopped"
    assert result.summary["samples_accepted"] > 0
    assert result.summary["outbox_depth"] == result.summary["samples_accepted"]


@pytest.mark.parametrize("mode", ["ca", "client_cert", "insecure"])
def test_tls_to_a_real_mosquitto(tmp_path: Path, crop: bytes, mode: str) -> None:
    """mqtts:// against Mosquitto with a TLS listener: a private CA (ca_file), a broker that
    requires client certificates (cert_file/key_file), and a certificate for another host name
    accepted only with tls.insecure. Every sample arrives (read back over TLS too)."""
    from tests.agent.delivery_support import make_pki, tls_listener

    pki = make_pki(tmp_path / "pki", "other.example" if mode == "insecure" else "127.0.0.1")
    broker = Mosquitto(tmp_path / "mq")
    tls_listener(broker, pki, require_cert=mode == "client_cert")
    broker.start()
    tls: dict[str, Any] = {"ca_file": str(pki["ca"])}
    if mode == "client_cert":
        tls |= {"cert_file": str(pki["cli"]), "key_file": str(pki["cli_key"])}
    if mode == "insecure":
        tls |= {"insecure": True}
    try:
        if mode == "insecure":  # the same run without the flag: the host name check refuses
            strict = _config(
                tmp_path / "strict",
                broker.port,
                "cam-tls",
                broker={
                    "url": f"mqtts://127.0.0.1:{broker.port}",
                    "tls": {"ca_file": str(pki["ca"])},
                    "connect_timeout_s": 1,
                },
            )
            refused = Runner(
                strict,
                source_factory=lambda c: ArraySource(frames(2)),
                pipeline_factory=lambda c, t: FakePipeline("cam-tls", crop),
            ).run()
            assert refused.exit_code == EXIT_UNDELIVERED and refused.reason == "unreachable"
        listener = Listener(broker.port, "cam-tls", tls=(pki, mode))
        cfg = _config(
            tmp_path,
            broker.port,
            "cam-tls",
            broker={"url": f"mqtts://127.0.0.1:{broker.port}", "tls": tls},
        )
        result = Runner(
            cfg,
            source_factory=lambda c: ArraySource(frames(4)),
            pipeline_factory=lambda c, t: FakePipeline("cam-tls", crop),
        ).run()
        assert result.exit_code == EXIT_OK, result
        assert listener.wait(lambda: len(listener.samples) == 4)
        listener.close()
    finally:
        broker.stop()
