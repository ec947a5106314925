"""What end-to-end receipts cost: ingest with and without them, and an agent draining through them.

Prints, in one run, against one Mosquitto (loopback, no persistence), the same kind of payloads
(valid samples built by wire/ from real face crops), QoS 1:

1. ingest throughput, publish of the first sample to the commit of the last one, by a
   `facetrove collector ingest` process with `ingest.receipts: true` and with `false`, while a
   subscriber reads every receipt topic (as the agents would); after one warm-up round that is
   not counted, rounds alternate (on, off, off, on, ...) so that drift of the machine's load
   falls on both;
2. the agent's outbox draining a backlog through the same Mosquitto and a real ingest process:
   with receipts (a row deleted on the collector's receipt) and without (deleted at the PUBACK);
   "drained" is the outbox empty, "stored" is the last sample committed in the store.

Usage: .venv/bin/python bench/bench_receipts.py [--samples 5000] [--rounds 2] [--backlog 2000]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facetrove import wire
from facetrove.agent.config import AgentConfig
from facetrove.agent.delivery.outbox import Outbox
from facetrove.agent.delivery.publisher import Publisher
from tests.collector.ingest_helpers import IngestProcess
from tests.collector.ingest_helpers import Publisher as RawPublisher
from tests.support.broker import Mosquitto
from tests.support.samples import Built, many_samples


def rows(db_path: Path) -> int:
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    finally:
        db.close()


def ingest_rate(
    work: Path, name: str, url: str, port: int, samples: list[Built], on: bool
) -> float:
    """Samples/s through one fresh ingest process with receipts ``on`` or off."""
    conf = work / f"{name}.yaml"
    conf.write_text(f"ingest:\n  receipts: {'true' if on else 'false'}\n")
    data = work / name
    proc = IngestProcess(
        data, url, "--config", str(conf), "--client-id", f"facetrove-{name}", name=name
    )
    proc.start(timeout=120)
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"receipts-{name}")
    got = [0]
    reader.on_message = lambda *_a: got.__setitem__(0, got[0] + 1)
    reader.connect("127.0.0.1", port)
    reader.subscribe(wire.subscription(wire.Kind.RECEIPT), qos=1)
    reader.loop_start()
    try:
        pub = RawPublisher(port, f"pub-{name}")
        start = time.perf_counter()
        for s in samples:
            pub.publish(s.device_id, s.payload)
        while rows(data / "facetrove.db") < len(samples):
            if time.perf_counter() - start > 600:
                raise TimeoutError(f"{name}: ingest did not commit every sample")
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        pub.close()
        time.sleep(0.5)
        assert (got[0] > 0) == on, f"{name}: {got[0]} receipts with receipts {_onoff(on)}"
    finally:
        reader.disconnect()
        reader.loop_stop()
        proc.stop()
    return len(samples) / elapsed


def drain(
    work: Path, name: str, url: str, port: int, samples: list[Built], on: bool
) -> tuple[float, float]:
    """An agent's outbox holding ``samples`` (one device) drained through Mosquitto into a
    real ingest process; returns (samples/s until the outbox is empty, until all are stored)."""
    data = work / name
    ingest = IngestProcess(data, url, "--client-id", f"facetrove-{name}", name=name)
    ingest.start(timeout=120)
    device = samples[0].device_id
    cfg = AgentConfig.model_validate(
        {
            "device_id": device,
            "broker": {"url": url, "max_inflight": 20},
            "outbox": {"path": str(work / f"{name}-outbox.db")},
            "receipts": {"enabled": on},
        }
    )
    box = Outbox(cfg.outbox.path)
    for s in samples:  # a backlog, as after an outage
        box.put(s.sample_id, s.payload)
    pub = Publisher(cfg, box)
    try:
        start = time.perf_counter()
        pub.start()
        emptied = stored = None
        while emptied is None or stored is None:
            now = time.perf_counter()
            if emptied is None and box.depth == 0:
                emptied = now - start
            if stored is None and rows(data / "facetrove.db") >= len(samples):
                stored = now - start
            if now - start > 600:
                raise TimeoutError(f"{name}: depth {box.depth}")
            time.sleep(0.005)
    finally:
        pub.stop()
        box.close()
        ingest.stop()
    return len(samples) / emptied, len(samples) / stored


def _onoff(on: bool) -> str:
    return "on " if on else "off"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-receipts-"))
    ingest: dict[bool, list[float]] = {True: [], False: []}
    drains: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    try:
        broker = Mosquitto(work / "mq", persistence=False).start()
        try:
            warm = many_samples(min(args.samples, 1000), tag="warm")
            ingest_rate(work, "warm", broker.url, broker.port, warm, True)
            for r in range(args.rounds):
                for on in (True, False) if r % 2 == 0 else (False, True):
                    tag = f"i{r}{'on' if on else 'off'}"
                    samples = many_samples(args.samples, tag=tag)
                    ingest[on].append(ingest_rate(work, tag, broker.url, broker.port, samples, on))
                    print(f"ingest, receipts {_onoff(on)}: {ingest[on][-1]:7.0f} samples/s")
            for r in range(args.rounds):
                for on in (True, False) if r % 2 == 0 else (False, True):
                    tag = f"d{r}{'on' if on else 'off'}"
                    samples = many_samples(args.backlog, devices=1, tag=tag)
                    drains[on].append(drain(work, tag, broker.url, broker.port, samples, on))
                    e, s = drains[on][-1]
                    print(
                        f"agent drain, receipts {_onoff(on)}: drained {e:6.0f}/s, stored {s:6.0f}/s"
                    )
        finally:
            broker.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    on, off = statistics.median(ingest[True]), statistics.median(ingest[False])
    print(f"\n{args.samples} samples per ingest round, {args.rounds} rounds each, medians:")
    print(f"ingest with receipts    {on:7.0f} samples/s")
    print(f"ingest without receipts {off:7.0f} samples/s   with/without {on / off:.2f}")
    de_on = statistics.median(d[0] for d in drains[True])
    de_off = statistics.median(d[0] for d in drains[False])
    ds_on = statistics.median(d[1] for d in drains[True])
    ds_off = statistics.median(d[1] for d in drains[False])
    print(f"{args.backlog}-sample agent backlog, medians:")
    print(
        f"outbox empty: receipts {de_on:6.0f}/s, PUBACK {de_off:6.0f}/s  ratio {de_on / de_off:.2f}"
    )
    print(
        f"all stored:   receipts {ds_on:6.0f}/s, PUBACK {ds_off:6.0f}/s  ratio {ds_on / ds_off:.2f}"
    )


if __name__ == "__main__":
    main()
