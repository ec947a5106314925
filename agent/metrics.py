"""The agent's optional ``/metrics`` (Prometheus text format), off unless ``metrics.port`` is set.

Every figure is read from the running agent at each scrape, from the same counters its ``stats``
message and exit summary report: frames, faces, samples kept, faces dropped by reason, the
outbox (depth, bytes, evictions by reason, kept across restarts in its file), the last sample
the collector confirmed stored, the model in use and the model files retention deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from facetrove.agent.config.delivery import MetricsConfig
from facetrove.agent.delivery.outbox import COUNTERS
from facetrove.metrics_http import MetricsServer

if TYPE_CHECKING:
    from facetrove.agent.runner import Runner

log = logging.getLogger(__name__)
EVICTIONS = [name.removeprefix("dropped_") for name in COUNTERS if name.startswith("dropped_")]


class AgentMetrics(Collector):
    """The figures of one agent run (read while it runs; parts not started yet are left out)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        run = self.runner
        yield GaugeMetricFamily(
            "facetrove_agent_paused", "1 while the collector's config pauses this agent",
            value=1 if run.paused else 0,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "facetrove_agent_fps", "frames per second over the latest stats interval (as in "
            "the stats message)", value=run.stats.last_fps,
        )  # fmt: skip
        pipeline = run.pipeline
        if pipeline is not None:
            counters = pipeline.counters
            for name, value, text in (
                ("frames", counters.frames, "frames processed in this run"),
                ("faces", counters.faces, "faces detected in this run"),
                ("samples_kept", run.stats.accepted, "samples kept for the collector (put "
                 "in the outbox) in this run"),
            ):  # fmt: skip
                yield CounterMetricFamily(f"facetrove_agent_{name}", text, value=value)
            drops = CounterMetricFamily(
                "facetrove_agent_drops", "faces not kept in this run, by reason (quality gate, "
                "sampler)", labels=["reason"],
            )  # fmt: skip
            for reason, n in sorted(counters.drops.items()):
                drops.add_metric([reason], n)
            yield drops
            model = InfoMetricFamily("facetrove_agent_model", "the pre-label model in use")
            model.add_metric(
                [], {"model_id": pipeline.model_id or "", "detector": pipeline.detector_name}
            )
            yield model
        deleted = CounterMetricFamily(
            "facetrove_agent_model_files_deleted", "model files deleted by retention, by "
            "reason, all runs", labels=["reason"],
        )  # fmt: skip
        for reason, n in run.orders.updater.deleted.by_reason().items():
            deleted.add_metric([reason], n)
        yield deleted
        yield from self._delivery()

    def _delivery(self) -> Iterator[Metric]:
        run = self.runner
        outbox, publisher = run.outbox, run.publisher
        if outbox is None or publisher is None:
            return
        yield GaugeMetricFamily(
            "facetrove_agent_outbox_samples", "samples waiting in the outbox", value=outbox.depth
        )
        yield GaugeMetricFamily(
            "facetrove_agent_outbox_bytes", "payload bytes waiting in the outbox",
            value=outbox.bytes,
        )  # fmt: skip
        counters = outbox.counters()
        evictions = CounterMetricFamily(
            "facetrove_agent_outbox_evictions", "samples the outbox dropped without a receipt, "
            "by reason (rows, bytes, age, disk), all runs", labels=["reason"],
        )  # fmt: skip
        for reason in EVICTIONS:
            evictions.add_metric([reason], counters[f"dropped_{reason}"])
        yield evictions
        yield CounterMetricFamily(
            "facetrove_agent_samples_confirmed", "samples the collector confirmed stored in "
            "this run", value=publisher.sent,
        )  # fmt: skip
        last = publisher.confirmations.last_stored_at
        if last is not None:
            yield GaugeMetricFamily(
                "facetrove_agent_last_delivery_timestamp_seconds", "Unix time the collector "
                "last confirmed a sample stored (absent until the first in this run)", value=last,
            )  # fmt: skip


def start_metrics(config: MetricsConfig, collector: Collector) -> MetricsServer | None:
    """Serve ``collector`` as ``metrics`` configures it; None when off or the port cannot be
    bound (logged: the agent runs on without metrics rather than not at all)."""
    if config.port is None:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    token = config.token.get_secret_value() if config.token else None
    try:
        server = MetricsServer(registry, config.host, config.port, token)
    except OSError as exc:
        log.error(
            "cannot serve metrics on %s:%d (%s); the agent runs without them",
            config.host,
            config.port,
            exc.strerror or exc,
        )
        return None
    log.info("metrics at %s", server.url)
    return server
