"""`/metrics`: the collector's figures in Prometheus text format, read from the store per scrape.

Every figure that must survive a restart comes from the store (durable counters, samples by
state, devices, versions), so two ingest processes on a shared subscription and a restart give
the same answer. Figures only the running ingest knows (receipts waiting, batches) are added
when ingest runs in this process (`collector serve`); a `collector ingest` run on its own
serves those on its own port (``ingest.metrics_port``, ``collector/ingest/metrics.py``).

Access: with ``web.metrics_token`` set, a scrape must send ``Authorization: Bearer <token>``;
without it, only clients on this machine (loopback) get an answer (docs/collector.md, Metrics).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from facetrove.collector.ingest.metrics import IngestCollector
from facetrove.collector.store.db import Database
from facetrove.collector.store.quarantine import rejection_counts
from facetrove.collector.store.stats import (
    counters,
    decision_counts,
    device_state_totals,
    duplicate_count,
    state_counts,
    version_status_counts,
)
from facetrove.collector.web.db import data_dir, get_db
from facetrove.metrics_http import scrape_allowed

bp = Blueprint("metrics", __name__)
INGEST_EXTENSION = "facetrove.ingest"  # the IngestWorker of this process, if any
SAMPLE_STATES = ("pending", "confirmed", "rejected")


class StoreCollector(Collector):
    """The figures of one store (and of this process's ingest worker, if given)."""

    def __init__(self, db: Database, data: Any, ingest: Any = None) -> None:
        self.db, self.data, self.ingest = db, data, ingest

    def collect(self) -> Iterator[Metric]:
        durable = counters(self.db, "samples.")
        for name, help_text in (
            ("stored", "samples stored by ingest (rate() of it is the ingest rate)"),
            ("redelivered", "copies of samples already stored, ignored"),
            ("duplicate_crop", "samples whose crop is a byte-identical copy of an earlier one"),
            ("clock_skew", "samples whose device clock looked wrong"),
        ):
            yield CounterMetricFamily(
                f"facetrove_samples_{name}", help_text, value=durable.get(f"samples.{name}", 0)
            )
        rejected = CounterMetricFamily(
            "facetrove_messages_rejected", "messages ingest refused, by reason", labels=["reason"]
        )
        for reason, n in sorted(rejection_counts(self.db).items()):
            rejected.add_metric([reason], n)
        yield rejected
        by_state = state_counts(self.db)
        queue = GaugeMetricFamily(
            "facetrove_samples", "samples by review state (the review queue is pending)",
            labels=["state"],
        )  # fmt: skip
        for state in sorted(set(SAMPLE_STATES) | set(by_state)):
            queue.add_metric([state], by_state.get(state, 0))
        yield queue
        yield GaugeMetricFamily(
            "facetrove_samples_held_back", "byte-identical copies held back from review",
            value=duplicate_count(self.db),
        )  # fmt: skip
        yield _labelled(
            CounterMetricFamily(
                "facetrove_review_decisions", "review decisions by action (rate() of it is the "
                "review rate)", labels=["action"],
            ),
            decision_counts(self.db),
        )  # fmt: skip
        yield _labelled(
            GaugeMetricFamily("facetrove_devices", "known devices by state", labels=["state"]),
            {"online": 0, "offline": 0, **device_state_totals(self.db)},
        )
        yield _labelled(
            GaugeMetricFamily(
                "facetrove_versions", "dataset versions by build status", labels=["status"]
            ),
            {"building": 0, "ready": 0, "failed": 0, **version_status_counts(self.db)},
        )
        disk = shutil.disk_usage(self.data)
        yield GaugeMetricFamily(
            "facetrove_disk_free_bytes", "free bytes on the data folder's disk", value=disk.free
        )
        yield GaugeMetricFamily(
            "facetrove_disk_size_bytes", "size of the data folder's disk", value=disk.total
        )
        yield from IngestCollector(self.ingest).collect()


def _labelled(family: Any, values: dict[str, int]) -> Any:
    for key, n in sorted(values.items()):
        family.add_metric([key], n)
    return family


def _allowed() -> bool:
    return scrape_allowed(
        current_app.config["FACETROVE_WEB"].metrics_token,
        request.headers.get("Authorization", ""),
        request.remote_addr or "",
    )


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; bearer token or loopback only (see the module docstring)."""
    if not _allowed():
        abort(403)
    registry = CollectorRegistry(auto_describe=False)
    ingest = current_app.extensions.get(INGEST_EXTENSION)
    registry.register(StoreCollector(get_db(), data_dir(), ingest))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
