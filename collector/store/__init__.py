"""The collector's store: the only package that speaks SQL (a test keeps it so).

SQLite rows through sqlite-utils and a content-addressed blob store, behind small functions per
area, so that a server database or an object store can replace them later:

- ``db``: opening the store, transactions, the audit log, the ``Database`` and ``StoreError`` types
- ``schema``: the tables, created and changed by numbered migrations at start-up
- ``blobs``: images by sha256 (``BlobStore``; ``put_many`` for ingest's batches)
- ``batches``: one ingest batch (samples, device updates, quarantine, counters) in one commit
- ``samples``: sample rows from wire samples, idempotent inserts, look-ups
- ``devices``: the device registry and each device's run-time config
- ``quarantine``: rejected messages, bounded
- ``classes``, ``reviews``, ``queue``: the project's classes, decisions, the leased review queue
  (``errors``: the review errors whose message is for the user)
- ``users``: accounts and API tokens
- ``versions``: rows of dataset versions
- ``stats``: counters and the dashboard's aggregates
- ``imports``: rows of imported samples, their tags
- ``device_logins``: devices' MQTT logins; ``integrity``: the damaged-store check
- ``outbox``: reading an agent's outbox file (the importer runs the agent)
- ``backup``: a consistent copy while ingest runs
- ``models``: the model registry and rollouts; ``train_jobs``: trainings started from the web
"""

from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME, Database, StoreError, connect
from facetrove.collector.store.schema import DEFAULT_CLASSES, migrate

__all__ = [
    "DB_NAME",
    "DEFAULT_CLASSES",
    "BlobStore",
    "Database",
    "StoreError",
    "connect",
    "migrate",
]
