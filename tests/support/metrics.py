"""Scraping a real /metrics endpoint over HTTP, parsed by prometheus_client's own parser."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int, path: str = "/metrics", token: str | None = None) -> Figures:
    """Every sample of one scrape of 127.0.0.1:``port``, by (name, sorted labels)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape_when_up(port: int, timeout: float = 60.0) -> Figures:
    """The first scrape that answers (the process may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(port)
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def labelled(figures: Figures, name: str, label: str) -> dict[str, float]:
    """The samples of one metric by the value of one label."""
    return {dict(labels)[label]: v for (n, labels), v in figures.items() if n == name}
