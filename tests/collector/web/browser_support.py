"""Real headless Chromium against the app served by waitress: what the browser tests share.

Screenshots go to tmp_path, or to $FACETROVE_SCREENSHOTS (docs/screenshots) when set.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.config import CollectorConfig
from facetrove.collector.web.server import run_web
from tests.collector.web.conftest import PASSWORD
from tests.support.broker import free_port
from tests.support.data import require

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextlib.contextmanager
def serving(config: CollectorConfig) -> Iterator[str]:
    """The app under waitress (run_web, as `serve` runs it) on a free port."""
    port = free_port()
    served = config.model_copy(update={"web": config.web.model_copy(update={"port": port})})
    stop = threading.Event()
    thread = threading.Thread(target=run_web, args=(served, stop), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield url
    finally:
        stop.set()
        thread.join(15)


@pytest.fixture
def live(config: CollectorConfig, store: Any, samples: Any) -> Iterator[str]:
    """The app with 60 real-face samples."""
    with serving(config) as url:
        yield url


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        require("chromium", "apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            # wait_for_function evaluates its string with eval, which the app's CSP forbids; the
            # CSP itself is checked in test_hardening_pages.py with a context that keeps it.
            ctx = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
            yield ctx.new_page()
        finally:
            browser.close()


def shot(page: Any, name: str, tmp_path: Path, *, full_page: bool = False) -> Path:
    folder = Path(os.environ.get("FACETROVE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


class Keys:
    """Counts every key the reviewer presses."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.count += 1


def login(page: Any, live: str) -> None:
    page.goto(live + "/auth/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live + "/review")
