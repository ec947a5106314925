"""What the hostile tests against the served app share: a login through the real form, the
status of a request, an API token."""

from __future__ import annotations

import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.store.db import DB_NAME, connect
from tests.collector.web.browser_support import serving
from tests.collector.web.test_first_run import Browser


def status_of(call: Any) -> int:
    """The HTTP status of ``call()`` (an error status too), its body read."""
    try:
        resp = call()
        resp.read()
        return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def post_login(client: Browser, username: str, password: str) -> int:
    """One login attempt through the real form; the final status (302 followed -> 200)."""
    import re
    import urllib.parse

    html = client.get("/auth/login").read().decode()
    token = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert token
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrf_token": token.group(1)}
    ).encode()
    return status_of(lambda: client.opener.open(client.url + "/auth/login", data=data, timeout=10))


@pytest.fixture
def live(config: Any, store: Any) -> Iterator[str]:
    """The app under waitress on a store with the two users and no samples."""
    with serving(config) as url:
        yield url


def api_token(config: Any) -> str:
    """A bearer token of alice's, for scripts' requests."""
    from facetrove.collector.store.users import issue_token

    db = connect(Path(config.data_dir) / DB_NAME)
    try:
        return issue_token(db, "alice")
    finally:
        db.conn.close()
