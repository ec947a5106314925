"""`/metrics` after real traffic: `collector serve` (its broker, ingest and web app), two real
device logins publishing real samples (valid, corrupt, lying about their device), then a scrape
over HTTP parsed by prometheus_client's own parser; every figure must equal the store's."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store.quarantine import rejection_counts
from facetrove.collector.store.stats import counters, device_state_totals, state_counts
from tests.collector.ingest_helpers import Publisher, wait_rows
from tests.collector.serve_helpers import start_serve, stop_serve
from tests.support.broker import wait_port
from tests.support.metrics import scrape
from tests.support.samples import base_crops, build_sample, with_comment

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_metrics_after_real_traffic_match_the_store(tmp_path: Path) -> None:
    serve = start_serve(tmp_path, devices=("cam-a", "cam-b"))
    pubs = []
    try:
        crops = base_crops()
        for i, device in enumerate(("cam-a", "cam-b")):
            pub = Publisher(serve.port, device, username=device, password=serve.password(device))
            pubs.append(pub)
            for k in range(3 + 2 * i):
                crop = with_comment(crops[k % len(crops)], f"{device}{k}")
                pub.publish(device, build_sample(crop, device).payload)
            bad = build_sample(with_comment(crops[0], f"bad-{device}"), device).payload
            pub.publish(device, bad[:-40] + bytes(38) + bad[-2:])  # crop bytes not its sha256
            pub.publish(device, b"not a sample at all")
            pub.wait_acked(3 + 2 * i + 2, timeout=30)
        wait_rows(serve.data, 8, timeout=30)
        wait_port(serve.web_port, 30)
        # Receipts go out up to ingest.receipt_ms after the commit that the rows show.
        deadline = time.monotonic() + 30
        got = scrape(serve.web_port)
        while got[("facetrove_receipts_sent_total", ())] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            got = scrape(serve.web_port)
        db = connect(serve.data / DB_NAME)
        try:
            stored = counters(db, "samples.")["samples.stored"]
            states = state_counts(db)
            reasons = rejection_counts(db)
            devices = device_state_totals(db)
        finally:
            db.close()
        assert stored == 8
        assert got[("facetrove_samples_stored_total", ())] == stored
        assert got[("facetrove_samples", (("state", "pending"),))] == states["pending"] == 8
        assert got[("facetrove_samples", (("state", "confirmed"),))] == 0
        assert len(reasons) >= 2 and sum(reasons.values()) == 4, reasons
        for reason, n in reasons.items():
            assert got[("facetrove_messages_rejected_total", (("reason", reason),))] == n
        for state, n in devices.items():
            assert got[("facetrove_devices", (("state", state),))] == n
        assert got[("facetrove_ingest_in_process", ())] == 1
        assert got[("facetrove_receipts_sent_total", ())] >= 2  # one per device at least
        assert got[("facetrove_ingest_stored_total", ())] == stored  # this process stored all
        assert got[("facetrove_disk_free_bytes", ())] > 0
        assert got[("facetrove_versions", (("status", "ready"),))] == 0
    finally:
        for pub in pubs:
            pub.close()
        stop_serve(serve)


def test_grafana_dashboard_queries_only_metrics_the_collector_serves() -> None:
    """Every metric a panel of deploy/grafana-dashboard.json asks for is one a /metrics serves,
    the collector's or an agent's (a renamed metric would leave an empty panel); the agent's
    panels are there."""
    import json
    import re

    served = {
        name
        for doc in ("collector.md", "agent.md")
        for line in (REPO / "docs" / doc).read_text().splitlines()
        if line.startswith("| `facetrove_")
        for name in re.findall(r"`(facetrove_[a-z_]+)", line)
    }
    board = json.loads((REPO / "deploy" / "grafana-dashboard.json").read_text())
    asked = {
        name
        for panel in board["panels"]
        for target in panel["targets"]
        for name in re.findall(r"facetrove_[a-z_]+", target["expr"])
    }
    assert asked and served, board
    assert {n for n in asked if n.startswith("facetrove_agent_")} >= {
        "facetrove_agent_fps",
        "facetrove_agent_drops_total",
        "facetrove_agent_outbox_samples",
        "facetrove_agent_outbox_evictions_total",
        "facetrove_agent_last_delivery_timestamp_seconds",
        "facetrove_agent_model_info",
    }
    known = {n.removesuffix("_total") for n in served}
    missing = {n for n in asked if n.removesuffix("_total") not in known}
    assert not missing, f"panels query metrics the docs do not list: {missing}"
