"""What end-to-end receipts cost: ingest with and without them, and an agent draining through them.

Prints, in one run, against one Mosquitto (loopback, no persistence), the same kind of payloads
(valid samples built by wire/ from real face crops), QoS 1:

1. ingest, publish of the first sample to the commit of the last one, by a fresh
   `facetrove collector ingest` process with `ingest.receipts: true` and with `false`, while a
   subscriber reads every receipt topic (as the agents would); after one warm-up round that is
   not counted, rounds alternate (on, off, off, on, ...) so that drift of the machine's load
   falls on both;
2. the agent's outbox draining a backlog through the same Mosquitto into a real ingest process:
   with receipts (a row deleted on the collector's receipt) and without (deleted at the PUBACK);
   "empty" is the outbox empty, "stored" is the last sample committed in the store.

Each line has a rate (wall clock, which other work on a shared machine moves a lot) and the CPU
seconds per 1,000 samples of the ingest process, or of the agent's process for the drain, read
from the kernel: what receipts cost, and much steadier than a rate when the machine is busy.

Usage: .venv/bin/python bench/bench_receipts.py [--samples 5000] [--rounds 2] [--backlog 2000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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

Result = tuple[float, float]  # samples/s, CPU seconds per 1,000 samples


def rows(db_path: Path) -> int:
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    finally:
        db.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingest_round(work: Path, name: str, port: int, samples: list[Built], on: bool) -> Result:
    """One fresh ingest process with receipts ``on`` or off takes ``samples``."""
    conf = work / f"{name}.yaml"
    conf.write_text(f"ingest:\n  receipts: {'true' if on else 'false'}\n")
    url = f"mqtt://127.0.0.1:{port}"
    cid = ("--client-id", f"facetrove-{name}")
    proc = IngestProcess(work / name, url, "--config", str(conf), *cid, name=name)
    proc.start(timeout=120)
    assert proc.proc is not None
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"receipts-{name}")
    got = [0]
    reader.on_message = lambda *_a: got.__setitem__(0, got[0] + 1)
    reader.connect("127.0.0.1", port)
    reader.subscribe(wire.subscription(wire.Kind.RECEIPT), qos=1)
    reader.loop_start()
    pub = RawPublisher(port, f"pub-{name}")
    try:
        cpu0 = cpu_seconds(proc.proc.pid)
        start = time.perf_counter()
        for s in samples:
            pub.publish(s.device_id, s.payload)
        while rows(work / name / "facetrove.db") < len(samples):
            if time.perf_counter() - start > 900:
                raise TimeoutError(f"{name}: ingest did not commit every sample")
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        time.sleep(0.5)  # the last receipts
        cpu = cpu_seconds(proc.proc.pid) - cpu0
        assert (got[0] > 0) == on, f"{name}: {got[0]} receipts with receipts {_onoff(on)}"
    finally:
        pub.close()
        reader.disconnect()
        reader.loop_stop()
        proc.stop()
    return len(samples) / elapsed, cpu * 1000 / len(samples)


def drain_round(
    work: Path, name: str, port: int, samples: list[Built], on: bool
) -> tuple[float, float, float]:
    """An agent's outbox holding ``samples`` (one device) drained through Mosquitto into a real
    ingest process. Returns samples/s until the outbox is empty, samples/s until all are stored,
    and the agent process's CPU seconds per 1,000 samples."""
    url = f"mqtt://127.0.0.1:{port}"
    ingest = IngestProcess(work / name, url, "--client-id", f"facetrove-{name}", name=name)
    ingest.start(timeout=120)
    cfg = AgentConfig.model_validate(
        {
            "device_id": samples[0].device_id,
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
        cpu0 = time.process_time()
        start = time.perf_counter()
        pub.start()
        emptied = stored = None
        while emptied is None or stored is None:
            now = time.perf_counter()
            if emptied is None and box.depth == 0:
                emptied = now - start
            if stored is None and rows(work / name / "facetrove.db") >= len(samples):
                stored = now - start
            if now - start > 900:
                raise TimeoutError(f"{name}: depth {box.depth}")
            time.sleep(0.005)
        cpu = time.process_time() - cpu0
    finally:
        pub.stop()
        box.close()
        ingest.stop()
    return len(samples) / emptied, len(samples) / stored, cpu * 1000 / len(samples)


def _onoff(on: bool) -> str:
    return "on " if on else "off"


def _order(r: int) -> tuple[bool, bool]:
    return (True, False) if r % 2 == 0 else (False, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-receipts-"))
    ingest: dict[bool, list[Result]] = {True: [], False: []}
    drains: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    try:
        broker = Mosquitto(work / "mq", persistence=False).start()
        try:
            warm = many_samples(min(args.samples, 1000), tag="warm")
            ingest_round(work, "warm", broker.port, warm, True)
            for r in range(args.rounds):
                for on in _order(r):
                    tag = f"i{r}{'on' if on else 'off'}"
                    samples = many_samples(args.samples, tag=tag)
                    ingest[on].append(ingest_round(work, tag, broker.port, samples, on))
                    rate, cpu = ingest[on][-1]
                    print(
                        f"ingest, receipts {_onoff(on)}: {rate:6.0f} samples/s, {cpu:.3f} cpu-s/1k"
                    )
            for r in range(args.rounds):
                for on in _order(r):
                    tag = f"d{r}{'on' if on else 'off'}"
                    samples = many_samples(args.backlog, devices=1, tag=tag)
                    drains[on].append(drain_round(work, tag, broker.port, samples, on))
                    e, s, cpu = drains[on][-1]
                    print(
                        f"agent drain, receipts {_onoff(on)}: empty {e:6.0f}/s, "
                        f"stored {s:6.0f}/s, agent {cpu:.3f} cpu-s/1k"
                    )
        finally:
            broker.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(f"\nmedians of {args.rounds} rounds each ({args.samples} samples per ingest round, "
          f"{args.backlog}-sample agent backlog):")  # fmt: skip
    print(f"{'':32} {'receipts':>10} {'without':>10} {'ratio':>6}")

    def col(rounds: dict[bool, list[Any]], i: int) -> tuple[list[float], list[float]]:
        return [r[i] for r in rounds[True]], [r[i] for r in rounds[False]]

    lines = [
        ("ingest samples/s", *col(ingest, 0)),
        ("ingest cpu-s per 1k samples", *col(ingest, 1)),
        ("agent drain: outbox empty /s", *col(drains, 0)),
        ("agent drain: all stored /s", *col(drains, 1)),
        ("agent cpu-s per 1k samples", *col(drains, 2)),
    ]
    for label, with_, without in lines:
        a, b = med(with_), med(without)
        print(f"{label:32} {a:10.3f} {b:10.3f} {a / b:6.2f}")


if __name__ == "__main__":
    main()
