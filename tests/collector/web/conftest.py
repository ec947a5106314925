"""Fixtures for the web app: a real temporary store with real faces, a client, a runner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from facetrove.collector.config import CollectorConfig
from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME, connect
from facetrove.collector.store.users import create_user
from facetrove.collector.web import create_app
from tests.collector.web.factory import Face, insert_samples, real_faces, sample_rows

PASSWORD = "correct horse battery"


class RecordingPublisher:
    """Test double for unit tests of the devices page (the e2e test uses real Mosquitto)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        self.sent.append((topic, payload, qos, retain))


@pytest.fixture
def config(tmp_path: Path) -> CollectorConfig:
    return CollectorConfig.model_validate(
        {"data_dir": str(tmp_path / "data"), "web": {"secret_key": "test-" + "k" * 40}}
    )


@pytest.fixture
def store(config: CollectorConfig):  # type: ignore[no-untyped-def]
    db = connect(Path(config.data_dir) / DB_NAME)
    create_user(db, "alice", PASSWORD, "admin")
    create_user(db, "bob", PASSWORD, "reviewer")
    yield db
    db.conn.close()


@pytest.fixture
def faces(config: CollectorConfig, faces_dir: Path) -> list[Face]:
    return real_faces(faces_dir, BlobStore(Path(config.data_dir) / "blobs"))


@pytest.fixture
def samples(store: Any, faces: list[Face]) -> list[dict[str, object]]:
    rows = sample_rows(faces, 60)
    insert_samples(store, rows)
    return rows


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def app(config: CollectorConfig, store: Any, publisher: RecordingPublisher) -> Iterator[Flask]:
    app = create_app(config, {"TESTING": True, "FACETROVE_PUBLISHER": publisher})
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


def csrf_token(client: FlaskClient, path: str = "/auth/login") -> str:
    """The CSRF token from a page's meta tag (the session must already exist)."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, f"no csrf meta tag on {path}"
    return match.group(1)


class AuthActions:
    """Log in and out through the real forms, CSRF token included."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def login(self, username: str = "alice", password: str = PASSWORD) -> Any:
        token = csrf_token(self.client)
        resp = self.client.post(
            "/auth/login",
            data={"username": username, "password": password, "csrf_token": token},
        )
        self.token = csrf_token(self.client, "/review") if resp.status_code == 302 else token
        return resp

    def headers(self) -> dict[str, str]:
        """Headers a page script sends on a state-changing API call."""
        return {"X-CSRFToken": self.token}

    def logout(self) -> Any:
        return self.client.post("/auth/logout", data={"csrf_token": self.token})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)
