"""Regenerate docs/screenshots/ from the real demo in real Chromium.

    .venv/bin/python -m tests.support.demo_screenshots docs/screenshots

Starts `facetrove demo run` (its own folder and free ports), waits until the agents' samples are
in the queue, logs in with the printed login and photographs the pages the docs show. Then Ctrl-C
(SIGINT to the demo's process group), as a person would stop it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.collector.web.browser_support import ARGS, CHROMIUM

FACETROVE = str(Path(sys.executable).parent / "facetrove")


def _start_demo(workdir: Path) -> tuple[subprocess.Popen[str], str, str, str]:
    proc = subprocess.Popen(
        [FACETROVE, "demo", "run", "--web-port", "0", "--broker-port", "0"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    url = user = password = ""
    deadline = time.monotonic() + 180
    while not (url and password) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"Review UI:\s+(http://\S+)", line):
            url = m.group(1)
        if m := re.search(r"Login:\s+(\S+) / (\S+)", line):
            user, password = m.group(1), m.group(2)
    if not (url and password):
        os.killpg(proc.pid, signal.SIGINT)
        raise SystemExit("the demo did not print its address and login")
    return proc, url, user, password


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, user, password = _start_demo(Path(tmp))
        try:
            time.sleep(75)  # the clip plays at its own pace; the photos go through in seconds
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
                page.goto(url + "/auth/login")
                page.screenshot(path=str(out / "login.png"))
                page.fill("input[name=username]", user)
                page.fill("input[name=password]", password)
                page.click("button[type=submit]")
                page.wait_for_selector("#grid .card")
                page.wait_for_function(
                    "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
                )
                page.keyboard.press("ArrowRight")
                page.keyboard.press("7")
                page.screenshot(path=str(out / "queue.png"))
                page.keyboard.press("o")
                page.wait_for_selector("svg.frame, .detail")
                page.wait_for_function("Array.from(document.images).every(i => i.complete)")
                page.screenshot(path=str(out / "detail.png"))
                page.goto(url + "/review")
                page.wait_for_selector("#grid .card")
                page.keyboard.press("Enter")
                page.wait_for_selector("#status.ok")
                for name, path in (("dashboard", "/dashboard/"), ("devices", "/devices/"),
                                   ("upload", "/upload/")):  # fmt: skip
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(out / f"{name}.png"), full_page=name == "dashboard")
                browser.close()
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.communicate(timeout=60)
    print(f"screenshots in {out}; demo exit code {proc.returncode}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
