"""A training's slot is free as soon as its job shows it ended: parallel Train presses sent the
moment the job's row turns final get exactly one new job (web.jobs.max_trains is 1), not a
"too many train jobs" for a job that the pages already show as done. The app under waitress,
real HTTP through the login form, a real `collector train` subprocess."""

from __future__ import annotations

import re
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.config import CollectorConfig
from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.store import train_jobs as rows
from facetrove.collector.store.users import create_user
from tests.collector.identity_helpers import wait_until
from tests.collector.train.helpers import need_train_extra, store_with_version
from tests.collector.web.browser_support import serving
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.test_first_run import Browser


def _press(url: str, name: str) -> str:
    """Log in, press Train on v1's page; where the answer leads (a job page or back)."""
    browser = Browser(url)
    browser.login("alice", PASSWORD)
    page = browser.get("/versions/v1").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:2000]
    form = {"csrf_token": token.group(1), "version": "v1", "name": name, "epochs": "1"}
    resp = browser.opener.open(
        url + "/models/train", data=urllib.parse.urlencode(form).encode(), timeout=60
    )
    path = urllib.parse.urlsplit(resp.geturl()).path
    text = resp.read().decode()
    if path.startswith("/models/jobs/"):
        return "started"
    return "refused" if "too many train jobs" in text else f"other: {path} {text[-500:]}"


def test_train_presses_the_moment_a_job_ends_start_one_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_train_extra()
    data = tmp_path / "data"
    store = store_with_version(data, n=30, name="v1")
    create_user(store.db, "alice", PASSWORD, "admin")
    store.db.close()
    config = CollectorConfig.model_validate(
        {"data_dir": str(data), "web": {"secret_key": "test-" + "k" * 40}}
    )
    answers: list[str] = []
    first = threading.Event()
    real_finish = rows.finish

    with serving(config) as url:

        def finish_then_press(db: Any, job: rows.TrainJob, status: str) -> None:
            real_finish(db, job, status)  # from here on the pages show the job ended
            if not first.is_set():
                first.set()
                with ThreadPoolExecutor(4) as pool:
                    answers.extend(pool.map(lambda i: _press(url, f"next{i}"), range(4)))

        monkeypatch.setattr(rows, "finish", finish_then_press)
        assert _press(url, "first") == "started"
        assert wait_until(lambda: len(answers) == 4, 300), answers

        db = connect(data / DB_NAME)
        try:
            jobs = {j.name: j for j in rows.recent(db)}
            assert jobs["first"].status == "done", jobs["first"]
            assert sorted(answers) == ["refused", "refused", "refused", "started"], answers
            assert len(jobs) == 2  # first and the one accepted next
            assert wait_until(lambda: rows.running(db) == [], 300)  # let it end before the app
        finally:
            db.close()
