"""End to end: `facetrove demo run`, as `make demo` runs it, through the real command.

Tried: the demo as a newcomer starts it (its default, relative data folder) with free ports, stopped
with Ctrl-C (SIGINT to the whole process group, as a terminal sends it). Checked: it prints the
review address and a login, samples from a real clip (with full frames) reach the store within a
minute, the printed login works on the real web app, the review queue's crops load, agents that
finished are reaped (no zombies), and Ctrl-C ends with exit code 0, no error, nothing left
running.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from facetrove.demo import _free_port
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


def _children(pid: int) -> dict[int, str]:
    """pid -> process state letter of each child of ``pid`` (Z: finished, not reaped)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out[int(stat.parent.name)] = fields[0]
    return out


def test_a_port_in_time_wait_counts_as_free() -> None:
    """Tried: the demo again right after a run (the browser's connections to 8080 linger in
    TIME_WAIT). Kept: the same port, as the server binding it with SO_REUSEADDR gets it."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end stays in TIME_WAIT
    client.close()
    server.close()
    assert _free_port(port) == port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert _free_port(taken) != taken


def test_demo_data_folder_is_ignored_by_git() -> None:
    root = Path(__file__).resolve().parents[1]
    checked = subprocess.run(
        ["git", "check-ignore", "-q", "facetrove-demo/demo-login.json"], cwd=root
    )
    assert checked.returncode == 0, "facetrove-demo/ (the demo password) is not in .gitignore"


@pytest.mark.slow
def test_demo_brings_up_collector_and_agent(tmp_path: Path) -> None:
    pyfeat_data()  # fetched (or reported missing) before the clock starts
    data = tmp_path / "facetrove-demo"  # the default, relative to where it starts
    proc = subprocess.Popen(
        [
            FACETROVE,
            "demo",
            "run",
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
        cwd=tmp_path,
        start_new_session=True,
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
        # No secret on a child's command line (any local user can read /proc/<pid>/cmdline).
        secrets = list(json.loads((data / "demo-devices.json").read_text()).values())
        cmdlines = []
        for child in _children(proc.pid):
            with contextlib.suppress(OSError):
                cmdlines.append(Path(f"/proc/{child}/cmdline").read_bytes().decode())
        assert any("agent" in c for c in cmdlines), cmdlines
        assert not [c for c in cmdlines if any(s in c for s in secrets)], cmdlines

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
        for media in sorted(set(re.findall(r"/media/[0-9a-f]{64}\.jpg", queue)))[:5]:
            assert opener.open(url + media).read(3) == b"\xff\xd8\xff"
        with sqlite3.connect(data / "facetrove.db", timeout=5) as conn:
            framed = conn.execute("SELECT count(*) FROM samples WHERE frame_sha256 IS NOT NULL")
            assert framed.fetchone()[0] >= 1, "demo samples carry no full frame"
        # The photo agent finishes on its own; the demo reaps it while it keeps running.
        deadline = time.monotonic() + 120
        while len(_children(proc.pid)) > 2 and time.monotonic() < deadline:
            time.sleep(1)
            if "Z" in _children(proc.pid).values():
                time.sleep(3)  # the demo polls twice a second
                zombies = [p for p, st in _children(proc.pid).items() if st == "Z"]
                assert not zombies, f"finished agents left defunct: {zombies}"
        assert len(_children(proc.pid)) <= 2, "no demo agent finished within two minutes"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rest, _ = proc.communicate()
    lines.append(rest or "")
    out = "".join(lines)
    assert proc.returncode == 0, f"demo exited with {proc.returncode}:\n{out[-2000:]}"
    assert "Error" not in out and "Aborted" not in out, out[-2000:]
    # Ctrl-C stopped what the demo started: nothing answers on the web port any more.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/healthz", timeout=3)
