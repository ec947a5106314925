"""The collector's store: SQLite rows (through sqlite-utils) and a content-addressed blob store.

Kept narrow so a server database or an object store can replace it later.
"""

from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME, connect
from facetrove.collector.store.schema import DEFAULT_CLASSES, migrate

__all__ = ["DB_NAME", "DEFAULT_CLASSES", "BlobStore", "connect", "migrate"]
