"""End to end: `facetrove demo run`, as `make demo` runs it, through the real command.

Tried: the demo on a fresh data folder with free ports, stopped with SIGTERM. Checked: it prints
the review address and a login, samples from a real clip (with full frames) reach the store within
a minute, the printed login works on the real web app, the review queue shows the samples' crops,
and after SIGTERM the collector it started is gone.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.data import pyfeat_data

FACETROVE = str(Path(sys.executable).parent / "facetrove")


def _count_samples(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=5) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM samples").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


@pytest.mark.slow
def test_demo_brings_up_collector_and_agent(tmp_path: Path) -> None:
    pyfeat_data()  # fetched (or reported missing) before the clock starts
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [
            FACETROVE,
            "demo",
            "run",
            "--data-dir",
            str(data),
            "--web-port",
            "0",
            "--broker-port",
            "0",
            "--duration",
            "120",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        url = login = None
        deadline = time.monotonic() + 120
        while (url is None or login is None) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if m := re.search(r"Review UI:\s+(http://\S+)", line):
                url = m.group(1)
            if m := re.search(r"Login:\s+(\S+) / (\S+)", line):
                login = (m.group(1), m.group(2))
        assert url and login, "demo did not print the review address and login:\n" + "".join(lines)

        started = time.monotonic()
        while _count_samples(data / "facetrove.db") < 3 and time.monotonic() - started < 60:
            time.sleep(1)
        stored = _count_samples(data / "facetrove.db")
        assert stored >= 3, f"only {stored} samples reached the store within a minute"
        # Each demo agent logs in as its own device; there is no shared agent login.
        listed = subprocess.run(
            [FACETROVE, "collector", "device", "list", "--json", "--data-dir", str(data)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        logins = {d["device_id"] for d in json.loads(listed.stdout) if d["active"]}
        assert logins == {"demo-clip", "demo-photos"}, logins
        assert set(json.loads((data / "broker" / "credentials.json").read_text())) == {"collector"}

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{url}/auth/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, "login page has no CSRF token"
        form = {"username": login[0], "password": login[1], "csrf_token": token.group(1)}
        resp = opener.open(f"{url}/auth/login", urllib.parse.urlencode(form).encode())
        queue = resp.read().decode()
        assert resp.status == 200
        assert "Wrong username or password" not in queue
        assert len(re.findall(r"<img[^>]+alt=\"face crop", queue)) >= 3, queue[:2000]
        with sqlite3.connect(data / "facetrove.db", timeout=5) as conn:
            framed = conn.execute("SELECT count(*) FROM samples WHERE frame_sha256 IS NOT NULL")
            assert framed.fetchone()[0] >= 1, "demo samples carry no full frame"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0, f"demo exited with {proc.returncode}"
    # SIGTERM stopped what the demo started: nothing answers on the web port any more.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/healthz", timeout=3)
