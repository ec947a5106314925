"""Collector ingest throughput: publish -> durable commit, against the raw broker rate.

Prints samples/s for (same payloads, QoS 1, one publisher, measured in this run):
  raw     paho -> Mosquitto -> paho subscriber (no storage): the baseline
  ingest  paho -> Mosquitto -> 1 `facetrove collector ingest` process -> SQLite + blobs,
          in a young store and in one whose blob folders already exist
  shared  the same with 2 ingest processes on $share/ingest/...
  amqtt   raw paho -> embedded amqtt (own process) -> paho, publishing with the collector's
          login and with a device's own login (topic rights checked on every publish and
          delivery), and paho (device login) -> `facetrove collector serve` -> store

Usage: .venv/bin/python bench/bench_ingest.py [--samples 10000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facetrove.collector.broker import ensure_credentials
from facetrove.collector.identity.registry import add_device
from facetrove.collector.store import DB_NAME, BlobStore, connect
from facetrove.wire import Kind, subscription
from tests.collector.ingest_helpers import FACETROVE, IngestProcess, Publisher
from tests.support.broker import Mosquitto, free_port, wait_port
from tests.support.samples import Built, many_samples


def raw_rate(
    port: int,
    samples: list[Built],
    auth: tuple[str, str] | None = None,
    pub_auth: tuple[str, str] | None = None,
) -> float:
    """Messages/s from the first publish to the last message received by a plain subscriber
    (logged in with ``auth``; the publisher with ``pub_auth``, default the same)."""
    done = threading.Event()
    got = [0]

    def on_message(*_a: object) -> None:
        got[0] += 1
        if got[0] >= len(samples):
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-sub-{port}",
                      protocol=mqtt.MQTTv311)  # fmt: skip
    if auth:
        sub.username_pw_set(*auth)
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    sub.subscribe(subscription(Kind.SAMPLE), qos=1)
    subscribed.wait(10)
    user, pw = pub_auth or auth or (None, None)
    pub = Publisher(port, f"raw-pub-{port}", username=user, password=pw)
    start = time.perf_counter()
    for s in samples:
        pub.publish(s.device_id, s.payload)
    done.wait(300)
    elapsed = time.perf_counter() - start
    pub.close()
    sub.disconnect()
    sub.loop_stop()
    return len(samples) / elapsed


def commit_rate(
    data_dir: Path, port: int, samples: list[Built], auth: tuple[str, str] | None = None
) -> float:
    """Samples/s from the first publish until the last sample is committed in the store."""
    user, pw = auth if auth else (None, None)
    pub = Publisher(port, f"bench-pub-{port}-{time.time_ns()}", username=user, password=pw)
    db = sqlite3.connect(data_dir / "facetrove.db", timeout=30)
    base = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    start = time.perf_counter()
    for s in samples:
        pub.publish(s.device_id, s.payload)
    target = base + len(samples)
    deadline = start + 600
    while db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] < target:
        if time.perf_counter() > deadline:
            raise TimeoutError("ingest did not commit every sample")
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    pub.close()
    db.close()
    return len(samples) / elapsed


def blob_ceiling(root: Path, samples: list[Built], batch: int = 512) -> float:
    """Images/s the blob store's file system allows: ingest's blob path alone (temp file,
    one sync per batch, rename into a fresh aa/bb/ folder tree), no MQTT, no SQLite."""
    from facetrove.collector.store.blobs import FileSystem

    blobs, fs = BlobStore(root), FileSystem()
    start = time.perf_counter()
    for i in range(0, len(samples), batch):
        temps = []
        for s in samples[i : i + batch]:
            final = blobs.path(s.crop_sha256)
            temps.append((fs.write_temp(final.parent, s.crop), final))
        fs.sync(root)
        for tmp, final in temps:
            fs.rename(tmp, final)
        fs.sync(root)
    return len(samples) / (time.perf_counter() - start)


class _Skip(Exception):
    """The Mosquitto paths are not measured (--only amqtt)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument(
        "--only", choices=("all", "amqtt"), default="all", help="amqtt: the embedded broker paths"
    )
    args = parser.parse_args()
    n = args.samples
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    results: dict[str, float] = {}
    try:
        tags = ("raw", "one", "warm", "two", "araw", "adev", "amqtt", "fs")
        # One device: a device login may publish only its own samples.
        samples = {tag: many_samples(n, devices=1, tag=tag) for tag in tags}
        sizes = [len(s.crop) for s in samples["one"]]
        payload = len(samples["one"][0].payload)
        print(
            f"{n} samples, crops {min(sizes)}-{max(sizes)} bytes, payload ~{payload} bytes, QoS 1"
        )

        broker = Mosquitto(work / "mq", persistence=False).start()
        try:
            if args.only == "amqtt":
                raise _Skip
            results["raw mosquitto"] = raw_rate(broker.port, samples["raw"])
            one = IngestProcess(work / "one", broker.url, name="one").start()
            try:
                results["ingest x1"] = commit_rate(one.data_dir, broker.port, samples["one"])
            finally:
                one.stop()
            # A store that already holds a few hundred thousand images has most of the 65,536
            # aa/bb/ blob folders; a young one makes a folder for nearly every image.
            warm = work / "warm"
            for s in samples["warm"]:
                BlobStore(warm / "blobs").path(s.crop_sha256).parent.mkdir(
                    parents=True, exist_ok=True
                )
            one = IngestProcess(
                warm, broker.url, "--client-id", "facetrove-warm", name="warm"
            ).start()
            try:
                results["ingest x1, blob folders exist"] = commit_rate(
                    warm, broker.port, samples["warm"]
                )
            finally:
                one.stop()
            shared = ("--shared-group", "bench", "--client-id")
            a = IngestProcess(work / "two", broker.url, *shared, "facetrove-a", name="a").start()
            b = IngestProcess(work / "two", broker.url, *shared, "facetrove-b", name="b").start()
            try:
                results["ingest x2 shared"] = commit_rate(a.data_dir, broker.port, samples["two"])
            finally:
                a.stop()
                b.stop()
        except _Skip:
            pass
        finally:
            broker.stop()

        # Raw amqtt: the embedded broker alone in its own process (as `serve` runs it, minus
        # ingest and web), a plain subscriber with the collector's login, the same payloads;
        # published once with the collector's login and once with a device's own.
        port = free_port()
        solo = work / "solo"
        creds = ensure_credentials(solo, ("collector",))
        device = add_device(connect(solo / DB_NAME), "cam-00")
        code = (
            "import logging, sys, time; from pathlib import Path; "
            "logging.disable(logging.CRITICAL); "
            "from facetrove.collector.broker import EmbeddedBroker; "
            f"EmbeddedBroker('127.0.0.1', {port}, Path(sys.argv[1]), "
            "registry_db=Path(sys.argv[2])).start(); time.sleep(3600)"
        )
        alone = subprocess.Popen(
            [sys.executable, "-c", code, str(creds.password_file), str(solo / DB_NAME)]
        )
        try:
            wait_port(port, 120)
            collector = ("collector", creds.users["collector"])
            results["raw amqtt"] = raw_rate(port, samples["araw"], collector)
            results["raw amqtt, device login"] = raw_rate(
                port, samples["adev"], collector, ("cam-00", device)
            )
        finally:
            alone.terminate()
            alone.wait(30)

        port = free_port()
        data = work / "serve"
        login = json.loads(
            subprocess.run(
                [FACETROVE, "collector", "device", "add", "cam-00", "--json", "--data-dir",
                 str(data)], capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        with open(work / "serve.log", "wb") as log:
            serve = subprocess.Popen([FACETROVE, "collector", "serve", "--data-dir", str(data),
                                      "--broker-port", str(port), "--port", str(free_port())],
                                     stdout=log, stderr=log)  # fmt: skip
        try:
            wait_port(port, 120)
            time.sleep(2)
            auth = ("cam-00", login["password"])
            results["serve (amqtt + ingest)"] = commit_rate(data, port, samples["amqtt"], auth)
        finally:
            serve.terminate()
            serve.wait(30)
        if args.only == "all":
            results["blob store alone (no MQTT)"] = blob_ceiling(work / "fs", samples["fs"])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = "raw mosquitto" if "raw mosquitto" in results else "raw amqtt"
    raw = results[base]
    print(f"{'path':28} {'samples/s':>10} {'vs ' + base:>17}")
    for name, rate in results.items():
        print(f"{name:28} {rate:10.0f} {rate / raw:16.0%}")
    print(f"serve vs raw amqtt: {results['serve (amqtt + ingest)'] / results['raw amqtt']:.0%}")
    device_vs = results["raw amqtt, device login"] / results["raw amqtt"]
    print(f"raw amqtt, device login (topic rights checked) vs collector login: {device_vs:.0%}")


if __name__ == "__main__":
    main()
