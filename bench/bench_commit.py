"""What ingest's message isolation costs: ``commit_isolated`` against a bare ``Writer.commit``.

Same run, same machine, real SQLite files and blob folders (a fresh store per path and round).
Wall-clock rates swing with the disk syncs of everything else on a shared machine; the CPU
seconds of this process per 1,000 samples do not, and show what each path itself costs.

  bare       Writer.commit per batch (all or nothing; before issue 9 this was ingest)
  isolated   commit_isolated per batch: the id screen (one SELECT per batch) + the same commit
  poisoned   commit_isolated on batches that each hold one message that raises in the writer
             (rolled back, stored one by one, the poison quarantined): the price of the fallback
  screen     the id screen alone (what isolation adds to a clean batch), per batch, on a store
             that holds the ids (redeliveries) and on one that does not; the disk syncs of the
             commits make the paths above noisy on a shared machine, this figure is not

Usage: .venv/bin/python bench/bench_commit.py [--samples 10000] [--batch 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facetrove.collector.ingest.isolation import commit_isolated, screen_ids
from facetrove.collector.ingest.validate import Accepted, Outcome, validate_message
from facetrove.collector.ingest.writer import BatchResult, Writer
from facetrove.collector.store import DB_NAME, BlobStore, connect
from facetrove.wire import Kind, Sample, SampleHeader, topic
from tests.support.samples import many_samples

NOW = "2026-11-26T12:00:00+00:00"
Commit = Callable[[Writer, Sequence[Outcome], str], BatchResult]


def bare(writer: Writer, batch: Sequence[Outcome], at: str) -> BatchResult:
    return writer.commit(batch, at)


def poison(a: Accepted) -> Accepted:
    """The same sample with a capture time that overflows in UTC, past validation."""
    when = datetime.fromisoformat("9999-12-31T23:59:59-01:00")
    header = SampleHeader.model_construct(**dict(a.sample.header.__dict__, captured_at=when))
    return Accepted(a.topic, Sample(header, a.sample.crop, a.sample.frame))


def rate(batches: list[list[Outcome]], commit: Commit) -> tuple[float, float]:
    """Samples/s (wall clock) and CPU seconds of this process per 1,000 samples."""
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        db = connect(Path(tmp) / DB_NAME)
        writer = Writer(
            db, BlobStore(Path(tmp) / "blobs"), quarantine_max_rows=1000, quarantine_head_bytes=64
        )
        n = sum(len(b) for b in batches)
        start, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            commit(writer, batch, datetime.now(timezone.utc).isoformat())
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        db.close()
    return n / seconds, cpu / n * 1000


def screen_ms(batches: list[list[Outcome]]) -> tuple[float, float]:
    """Milliseconds per batch of ``screen_ids``: ids unknown to the store, then all known."""
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        db = connect(Path(tmp) / DB_NAME)
        writer = Writer(
            db, BlobStore(Path(tmp) / "blobs"), quarantine_max_rows=1000, quarantine_head_bytes=64
        )
        times = []
        for known in (False, True):
            start = time.perf_counter()
            for batch in batches:
                screen_ids(writer, batch)
            times.append((time.perf_counter() - start) * 1000 / len(batches))
            if not known:
                for batch in batches:
                    writer.commit(batch, NOW)
        db.close()
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    outcomes: list[Outcome] = []
    for s in many_samples(args.samples, tag="bench-commit"):
        out = validate_message(topic(s.device_id, Kind.SAMPLE), s.payload, 1 << 22)
        assert isinstance(out, Accepted)
        outcomes.append(out)
    batches = [outcomes[i : i + args.batch] for i in range(0, len(outcomes), args.batch)]
    poisoned = [[poison(b[0]), *b[1:]] for b in batches]  # type: ignore[arg-type]
    paths: dict[str, tuple[list[list[Outcome]], Commit]] = {
        "bare": (batches, bare),
        "isolated": (batches, commit_isolated),
        "poisoned": (poisoned, commit_isolated),
    }
    got: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    order = random.Random(7)
    for _ in range(args.rounds):  # interleaved in a new order each round: load drift and the
        names = list(paths)  # previous path's dirty pages (syncfs) hit every path alike
        order.shuffle(names)
        for name in names:
            data, commit = paths[name]
            samples_s, cpu_s = rate(data, commit)
            got[name].append(samples_s)
            cpu[name].append(cpu_s)
    base = statistics.median(got["bare"])
    base_cpu = statistics.median(cpu["bare"])
    print(f"{args.samples} samples, batches of {args.batch}, {args.rounds} rounds (median):")
    for name, rates in got.items():
        med = statistics.median(rates)
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}"
        c = statistics.median(cpu[name])
        print(
            f"  {name:9s} {med:8,.0f} samples/s  ({spread})  {med / base:5.2f}x bare;"
            f"  CPU {c:.3f} s per 1,000 samples ({c / base_cpu:.2f}x bare)"
        )
    fresh, known = screen_ms(batches)
    per_batch = args.batch / base * 1000
    print(
        f"  screen    {fresh:.2f} ms per batch of new ids, {known:.2f} ms of stored ids; a bare "
        f"commit of {args.batch} takes {per_batch:,.0f} ms: {max(fresh, known) / per_batch:.2%}"
    )


if __name__ == "__main__":
    main()
