"""The metrics port of the agent and of a standalone ingest (facetrove/metrics_http.py): off by
default, bound to 127.0.0.1 unless configured, the web app's access rule, only /metrics, and a
port already in use logged without stopping the process."""

from __future__ import annotations

import logging
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from facetrove.agent.config import AgentConfig
from facetrove.agent.metrics import start_metrics
from facetrove.collector.config import CollectorConfig
from facetrove.metrics_http import MetricsServer, metrics_app
from tests.support.metrics import scrape

ROOT = Path(__file__).resolve().parents[1]


class _One(Collector):
    def collect(self) -> Any:
        yield GaugeMetricFamily("facetrove_test_up", "a figure", value=1)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_One())
    return registry


def _call(token: str | None, path: str = "/metrics", **environ: str) -> str:
    seen: list[str] = []
    body = metrics_app(_registry(), token)(
        {"PATH_INFO": path, "REMOTE_ADDR": "127.0.0.1", **environ},
        lambda status, headers: seen.append(status),
    )
    assert b"".join(body)
    return seen[0]


def test_off_by_default_and_on_loopback_when_on() -> None:
    agent = AgentConfig(device_id="cam-1")
    assert agent.metrics.port is None and agent.metrics.host == "127.0.0.1"
    collector = CollectorConfig.model_validate({"data_dir": "/tmp/x"})
    assert collector.ingest.metrics_port is None
    assert collector.ingest.metrics_host == "127.0.0.1"
    assert start_metrics(agent.metrics, _One()) is None


def test_the_access_rule_is_the_web_apps() -> None:
    remote = {"REMOTE_ADDR": "192.0.2.7"}
    assert _call(None).startswith("200")
    assert _call(None, REMOTE_ADDR="::1").startswith("200")
    assert _call(None, **remote).startswith("403")
    assert _call("s3cret").startswith("403")  # with a token, loopback is not enough
    for wrong in ("Bearer wrong", "s3cret", ""):
        assert _call("s3cret", HTTP_AUTHORIZATION=wrong, **remote).startswith("403"), wrong
    assert _call("s3cret", HTTP_AUTHORIZATION="Bearer s3cret", **remote).startswith("200")
    assert _call(None, path="/").startswith("404")
    assert _call(None, path="/metrics/../x").startswith("404")


def test_a_real_server_answers_scrapes_and_frees_its_port() -> None:
    server = MetricsServer(_registry(), "127.0.0.1", 0, token="t0k")
    try:
        assert scrape(server.port, token="t0k")[("facetrove_test_up", ())] == 1
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url, timeout=10)
        assert refused.value.code == 403
    finally:
        server.close()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", server.port)) != 0


def test_a_port_in_use_is_one_error_line_and_the_agent_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = AgentConfig.model_validate({"device_id": "cam-1", "metrics": {"port": port}})
        with caplog.at_level(logging.ERROR, logger="facetrove.agent.metrics"):
            assert start_metrics(config.metrics, _One()) is None
    [line] = [r.getMessage() for r in caplog.records]
    assert f"cannot serve metrics on 127.0.0.1:{port}" in line and "without them" in line


@pytest.mark.parametrize("doc", ["agent.md", "collector.md"])
def test_the_documented_prometheus_job_scrapes_with_its_token(doc: str, tmp_path: Path) -> None:
    """The docs' Prometheus job (YAML) sends its credentials file as a bearer token, the scheme
    the metrics port checks: run here with the job's token file against a real server."""
    import yaml

    text = (ROOT / "docs" / doc).read_text()
    [snippet] = re.findall(r"```yaml\n(scrape_configs:.*?)```", text, re.S)
    [job] = yaml.safe_load(snippet)["scrape_configs"]
    assert set(job) == {"job_name", "authorization", "static_configs"}
    assert set(job["authorization"]) == {"credentials_file"}  # type: Bearer, Prometheus' default
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets and all(re.fullmatch(r"[\w.-]+:\d+", t) for t in targets), targets
    token_file = tmp_path / Path(job["authorization"]["credentials_file"]).name
    token_file.write_text("s3cret-scrape\n")
    token = token_file.read_text().strip()  # Prometheus trims the file's trailing newline
    server = MetricsServer(_registry(), "127.0.0.1", 0, token="s3cret-scrape")
    try:
        assert scrape(server.port, token=token)[("facetrove_test_up", ())] == 1
    finally:
        server.close()
