"""Reading an agent's outbox file: the framed samples an agent run left there, in order.

The collector's import runs the agent on photos with a private outbox and nobody to deliver to,
then takes the samples from that file. The collector never imports the agent, so the outbox's
one table is read here, by its documented columns (``seq``, ``payload``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def outbox_payloads(path: Path) -> list[bytes]:
    """Every payload in the outbox file at ``path``, oldest first.

    Raises:
        StoreError: the file is not an outbox (or not a SQLite database).
    """
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [bytes(r[0]) for r in conn.execute("SELECT payload FROM outbox ORDER BY seq")]
