"""Who may read /metrics: loopback clients without a token; with ``web.metrics_token`` only a
scrape that sends it. Reviewers' logins are not needed, and not enough."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from facetrove.collector.config import CollectorConfig
from facetrove.collector.web import create_app

REMOTE = {"REMOTE_ADDR": "192.0.2.7"}  # documentation range: only a WSGI environ value here


def names(body: bytes) -> set[str]:
    return {f.name for f in text_string_to_metric_families(body.decode())}


def test_loopback_only_without_a_token(app: Any, samples: Any) -> None:
    client = app.test_client()
    local = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert local.status_code == 200
    assert {"facetrove_samples", "facetrove_disk_free_bytes"} <= names(local.data)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base=REMOTE).status_code == 403


def test_token_required_when_set(tmp_path: Path, store: Any) -> None:
    config = CollectorConfig.model_validate(
        {"data_dir": str(tmp_path / "data"),
         "web": {"secret_key": "k" * 40, "metrics_token": "s3cret-scrape"}}
    )  # fmt: skip
    client = create_app(config, {"TESTING": True}).test_client()
    local = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", environ_base=local).status_code == 403  # loopback not enough
    for wrong in ("Bearer wrong", "Bearer s3cret-scrap", "s3cret-scrape", ""):
        got = client.get("/metrics", environ_base=REMOTE, headers={"Authorization": wrong})
        assert got.status_code == 403, wrong
    ok = client.get(
        "/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer s3cret-scrape"}
    )
    assert ok.status_code == 200 and "facetrove_samples_stored" in names(ok.data)
