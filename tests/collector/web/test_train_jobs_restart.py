"""Training jobs outlive the web process that ran them: `facetrove collector web` as a real
process, a real HTTP client through the login form, a real training (PyTorch), kill -9 in the
middle of a second one, a restart. The finished job and its model stay listed; the one that
was running shows as interrupted, neither vanished nor running forever; its training process
died with the collector and wrote nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.parse
from pathlib import Path

from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store import models as registry
from facetrove.collector.store import train_jobs as rows
from facetrove.collector.store.users import create_user
from tests.collector.identity_helpers import wait_until
from tests.collector.ingest_helpers import FACETROVE
from tests.collector.train.helpers import need_train_extra, store_with_version
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.test_first_run import Browser
from tests.support.broker import free_port, wait_port
from tests.support.procs import alive


class Web:
    """`facetrove collector web` on a data folder, killable and restartable."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data, self.log, self.port = data, log, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Browser:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [FACETROVE, "collector", "web", "--data-dir", str(self.data),
                 "--port", str(self.port)],
                stdout=out, stderr=out,
            )  # fmt: skip
        wait_port(self.port, 60)
        browser = Browser(f"http://127.0.0.1:{self.port}")
        browser.login("alice", PASSWORD)
        return browser

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)


def _train(browser: Browser, name: str, epochs: int) -> str:
    """Press Train on version v1's page; the job page's path (no other job runs: accepted)."""
    page = browser.get("/versions/v1").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:2000]
    form = {"csrf_token": token.group(1), "version": "v1", "name": name, "epochs": str(epochs)}
    resp = browser.opener.open(
        browser.url + "/models/train", data=urllib.parse.urlencode(form).encode(), timeout=30
    )
    path = urllib.parse.urlsplit(resp.geturl()).path
    assert path.startswith("/models/jobs/"), resp.read().decode()[-3000:]
    return path


def _done(browser: Browser, path: str) -> bool:
    return ">done</span>" in _page(browser, path)


def _page(browser: Browser, path: str) -> str:
    return str(browser.get(path).read().decode())


def test_jobs_survive_a_kill_of_the_collector(tmp_path: Path) -> None:
    need_train_extra()
    data = tmp_path / "data"
    store = store_with_version(data, n=30, name="v1")
    create_user(store.db, "alice", PASSWORD, "admin")
    store.db.close()
    web = Web(data, tmp_path / "web.log")
    orphan = None
    try:
        browser = web.start()
        done = _train(browser, "quick", 1)
        assert wait_until(lambda: _done(browser, done), 300), _page(browser, done)
        assert "epoch 1/1" in _page(browser, done)
        running = _train(browser, "long", 500)
        assert wait_until(lambda: re.search(r"epoch [1-9]\d*/500", _page(browser, running)), 300)
        db = connect(data / DB_NAME)
        job = rows.get(db, running.rsplit("/", 1)[1])
        db.close()
        assert job is not None and job.status == "running" and job.pid
        orphan = job.pid

        # A stopped child stands for one in a long stretch without output (loading, the final
        # export and report): only the kernel can end it. SIGKILL ends a stopped process too.
        os.kill(orphan, signal.SIGSTOP)
        web.kill()  # kill -9: no chance to write anything
        assert wait_until(lambda: not alive(orphan), 10), "the training outlived its collector"
        assert not (data / "models" / "long").exists()
        db = connect(data / DB_NAME)
        assert "long" not in [m.id for m in registry.list_models(db)]
        db.close()
        # what a SIGKILL in the middle of writing the hidden folder leaves
        (data / "models" / ".long.partial").mkdir()
        (data / "models" / ".long.partial" / "model.onnx").write_bytes(b"half")

        browser = web.start()
        page = _page(browser, running)
        assert "interrupted" in page and "collector stopped" in page, page
        assert 'http-equiv="refresh"' not in page  # not waiting for a run that will never end
        assert _done(browser, done)
        models = _page(browser, "/models/")
        assert "/models/quick" in models  # the finished model: registry row and files
        assert "long" in models and "interrupted" in models  # the jobs, listed
        assert not (data / "models" / "long").exists()
        assert not (data / "models" / ".long.partial").exists()  # removed with the job's end
        # the name of the interrupted model can be used again
        again = _train(browser, "long", 1)
        assert wait_until(lambda: _done(browser, again), 300), _page(browser, again)
    finally:
        web.kill()
        if orphan is not None and alive(orphan):
            os.kill(orphan, signal.SIGKILL)
            os.kill(orphan, signal.SIGCONT)
