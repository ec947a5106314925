"""What a newcomer hits first: the app served by waitress from a relative data folder (the
demo's default and the README's ``--data-dir ./...``), spoken to by a real HTTP client."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.config import load_config
from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME, connect
from facetrove.collector.store.users import create_user
from tests.collector.web.browser_support import serving
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.factory import insert_samples, real_faces, sample_rows


def test_relative_data_dir_is_made_absolute_where_the_config_is_loaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, data_dir="./rel-data")
    assert config.data_dir == tmp_path / "rel-data"
    assert config.data_dir.is_absolute()


class Browser:
    """A cookie-keeping urllib client that logs in through the real form."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> Any:
        return self.opener.open(self.url + path, timeout=10)

    def login(self, username: str, password: str) -> None:
        html = self.get("/auth/login").read().decode()
        token = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert token
        form = {"username": username, "password": password, "csrf_token": token.group(1)}
        data = urllib.parse.urlencode(form).encode()
        self.opener.open(self.url + "/auth/login", data=data, timeout=10).read()


@pytest.mark.slow
def test_queue_images_load_from_a_relative_data_dir(tmp_path, monkeypatch, faces_dir):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, data_dir="rel-data", **{"web.secret_key": "test-" + "k" * 40})
    db = connect(Path("rel-data") / DB_NAME)
    create_user(db, "alice", PASSWORD, "admin")
    insert_samples(db, sample_rows(real_faces(faces_dir, BlobStore(Path("rel-data/blobs"))), 8))
    db.conn.close()
    with serving(config) as url:
        client = Browser(url)
        client.login("alice", PASSWORD)
        page = client.get("/review").read().decode()
        media = sorted(set(re.findall(r"/media/[0-9a-f]{64}\.jpg", page)))
        assert media, "the queue page shows no images"
        for path in media:
            resp = client.get(path)
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
            assert resp.read(3) == b"\xff\xd8\xff"


def test_a_burst_of_requests_logs_one_queue_line_not_one_per_request(config, store, caplog):
    """Tried: 60 requests at once on one worker thread (a queue page loads 24 crops at once).
    Before, waitress logged "Task queue depth is N" for nearly every request."""
    import concurrent.futures
    import logging

    from facetrove.collector.web.server import QueueDepthSummary

    caplog.set_level(logging.WARNING, logger="waitress.queue")
    queue_log = logging.getLogger("waitress.queue")
    for old in [f for f in queue_log.filters if isinstance(f, QueueDepthSummary)]:
        queue_log.removeFilter(old)  # a fresh minute, whatever ran before in this process
    busy = config.model_copy(update={"web": config.web.model_copy(update={"threads": 1})})
    with serving(busy) as url:

        def fetch(_: int) -> int:
            with urllib.request.urlopen(url + "/healthz", timeout=20) as resp:
                return int(resp.status)

        with concurrent.futures.ThreadPoolExecutor(30) as pool:
            assert set(pool.map(fetch, range(60))) == {200}
    lines = [r.getMessage() for r in caplog.records if r.name == "waitress.queue"]
    assert 1 <= len(lines) <= 2, lines
    assert "web.threads" in lines[0]
