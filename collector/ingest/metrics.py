"""The figures only a running ingest process knows (commits, receipts, its queue), for
Prometheus: part of the web app's ``/metrics`` under `collector serve`, and served on a port of
their own by a `collector ingest` run on its own (``ingest.metrics_port``).

The store's figures (samples by state, rejections, devices, disk) are the web app's: every
process reading one store would report the same numbers, so a sum over several ingest
processes would count them several times. These figures are this process's own since it
started, so summing them over a shared-subscription group is right.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from facetrove.collector.config import CollectorConfig
from facetrove.metrics_http import MetricsServer

if TYPE_CHECKING:
    from facetrove.collector.ingest.worker import IngestWorker

log = logging.getLogger(__name__)


class IngestCollector(Collector):
    """The figures of one ingest process (``worker`` None: ingest does not run here)."""

    def __init__(self, worker: IngestWorker | None) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        worker = self.worker
        yield GaugeMetricFamily(
            "facetrove_ingest_in_process", "1 when ingest runs in this process",
            value=1 if worker is not None else 0,
        )  # fmt: skip
        if worker is None:
            return
        stats = worker.stats
        for name, value, text in (
            ("ingest_stored", stats.stored, "samples this process stored since start"),
            ("ingest_batches", stats.batches, "batches committed since start"),
            ("ingest_storage_errors", stats.storage_errors, "failed commits (retried) since "
             "start"),
            ("receipts_sent", stats.receipts, "receipt messages sent since start"),
        ):  # fmt: skip
            yield CounterMetricFamily(f"facetrove_{name}", text, value=value)
        yield GaugeMetricFamily(
            "facetrove_receipts_pending", "committed messages whose receipt is not sent yet",
            value=worker.receipts_pending(),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "facetrove_ingest_queue", "messages received, waiting for their commit",
            value=worker.queued(),
        )  # fmt: skip


def serve_ingest_metrics(config: CollectorConfig, worker: IngestWorker) -> MetricsServer | None:
    """Serve ``worker``'s figures on ``ingest.metrics_port`` (None when unset, or when the port
    cannot be bound: logged, and ingest runs on without them)."""
    cfg = config.ingest
    if cfg.metrics_port is None:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(IngestCollector(worker))
    try:
        server = MetricsServer(registry, cfg.metrics_host, cfg.metrics_port,
                               config.web.metrics_token)  # fmt: skip
    except OSError as exc:
        log.error("cannot serve metrics on %s:%d (%s); ingest runs without them",
                  cfg.metrics_host, cfg.metrics_port, exc.strerror or exc)  # fmt: skip
        return None
    log.info("ingest metrics at %s", server.url)
    return server
