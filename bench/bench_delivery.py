"""Delivery benchmark: the durable outbox and the publisher against a real Mosquitto.

Prints, in one run:
- outbox put (commit per sample, synchronous=FULL) and confirm (one delete per sample) rates;
- baseline: raw paho QoS 1 publishing of the same payloads (max 20 in flight), messages/s;
- the agent's path draining a backlog: outbox -> Publisher -> PUBACK -> row deleted (receipts
  off: no collector here; bench/bench_receipts.py measures the path with receipts), and the
  ratio to the baseline.

Payloads are 20 KB (a 160x160 crop plus header is 6-10 KB; 20 KB is a pessimistic sample).
Run: .venv/bin/python bench/bench_delivery.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facetrove import wire
from facetrove.agent.config import AgentConfig
from facetrove.agent.delivery.outbox import Outbox
from facetrove.agent.delivery.publisher import Publisher
from tests.support.broker import Mosquitto

N = 1000
SIZE = 20_000


def bench_outbox(path: Path) -> tuple[float, float]:
    box = Outbox(path)
    ids = [wire.new_sample_id() for _ in range(N // 2)]
    payload = os.urandom(SIZE)
    t0 = time.perf_counter()
    for sid in ids:
        box.put(sid, payload)
    put_rate = len(ids) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for sid in ids:
        box.confirm([sid])
    ack_rate = len(ids) / (time.perf_counter() - t0)
    box.close()
    return put_rate, ack_rate


def bench_raw(port: int) -> float:
    done = threading.Event()
    count = [0]

    def on_publish(*_: object) -> None:
        count[0] += 1
        if count[0] == N:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw")
    client.max_inflight_messages_set(20)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    payload = os.urandom(SIZE)
    topic = wire.topic("bench-raw", wire.Kind.SAMPLE)
    t0 = time.perf_counter()
    for _ in range(N):
        client.publish(topic, payload, qos=1)
    done.wait(120)
    rate = N / (time.perf_counter() - t0)
    client.disconnect()
    client.loop_stop()
    return rate


def bench_agent(port: int, path: Path) -> float:
    cfg = AgentConfig.model_validate(
        {
            "device_id": "bench-agent",
            "broker": {"url": f"mqtt://127.0.0.1:{port}", "max_inflight": 20},
            "outbox": {"path": str(path)},
            "receipts": {"enabled": False},
        }
    )
    box = Outbox(path)
    payload = os.urandom(SIZE)
    for _ in range(N):  # a backlog, as after an outage
        box.put(wire.new_sample_id(), payload)
    pub = Publisher(cfg, box)
    t0 = time.perf_counter()
    pub.start()
    while box.depth:
        time.sleep(0.002)
    rate = N / (time.perf_counter() - t0)
    pub.stop()
    box.close()
    return rate


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        put_rate, ack_rate = bench_outbox(work / "o1.db")
        broker = Mosquitto(work / "mq", persistence=False).start()
        try:
            raw = bench_raw(broker.port)
            agent = bench_agent(broker.port, work / "o2.db")
        finally:
            broker.stop()
    print(f"payload {SIZE} bytes, {N} messages, QoS 1, max 20 in flight, loopback Mosquitto")
    print(f"outbox put (commit per sample, FULL sync): {put_rate:8.0f} samples/s")
    print(f"outbox confirm (one delete per sample):    {ack_rate:8.0f} samples/s")
    print(f"baseline raw paho publish:                 {raw:8.0f} msg/s")
    print(f"agent backlog: outbox -> PUBACK -> delete: {agent:8.0f} msg/s (connect included)")
    print(f"ratio agent / raw:                         {agent / raw:8.2f}")


if __name__ == "__main__":
    main()
