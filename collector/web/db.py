"""The store handle of a request: opened lazily on ``g``, closed at teardown."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g

from facetrove.collector.config import CollectorConfig
from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME, Database, connect


def data_dir() -> Path:
    """The collector's data folder."""
    config: CollectorConfig = current_app.config["FACETROVE"]
    return Path(config.data_dir)


def get_db() -> Database:
    """This request's database connection (migrations ran once at start-up)."""
    if "db" not in g:
        g.db = connect(data_dir() / DB_NAME, migrate_schema=False)
    db: Database = g.db
    return db


def get_blobs() -> BlobStore:
    """The image blob store."""
    blobs = current_app.extensions.get("facetrove.blobs")
    if blobs is None:
        blobs = current_app.extensions["facetrove.blobs"] = BlobStore(data_dir() / "blobs")
    return blobs


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's connection, if one was opened."""
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def init_app(app: Flask) -> None:
    """Migrate the store once and close connections at the end of each request."""
    config: CollectorConfig = app.config["FACETROVE"]
    # Held open for the app's life and otherwise unused: while one connection stays open,
    # closing a request's connection does not checkpoint the WAL (about 10 ms a request).
    app.extensions["facetrove.db_keeper"] = connect(Path(config.data_dir) / DB_NAME)
    app.teardown_appcontext(close_db)
