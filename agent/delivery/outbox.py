"""The durable outbox: a SQLite queue on disk between capture and the broker.

A sample is committed here (WAL, ``synchronous=FULL``) before any network I/O, and its row is
deleted only when the collector confirmed it (a receipt: stored, or refused for good), not at
the broker's PUBACK. So a sample survives a broker outage, a broker or collector crash,
``kill -9`` of the agent and a power cut. The queue is bounded by rows, bytes and age with an
explicit policy, and every drop is counted by reason in the same file (the limits and the
disk-pressure eviction are in ``eviction.py``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from facetrove.agent.delivery.eviction import CHUNK as _CHUNK
from facetrove.agent.delivery.eviction import SELECTION_VALUE, Eviction, OutboxError, is_full
from facetrove.agent.delivery.outbox_file import open_outbox_file, reserve_size
from facetrove.disk_reserve import RESERVE_SUFFIX, DiskReserve

log = logging.getLogger(__name__)

#: Persistent counters: samples put, confirmed by the collector (stored, or quarantined: refused
#: for good), and dropped by the outbox's limits, by reason.
COUNTERS = (
    "put",
    "confirmed",
    "quarantined",
    "dropped_rows",
    "dropped_bytes",
    "dropped_age",
    "dropped_disk",
)
__all__ = ["COUNTERS", "SELECTION_VALUE", "Outbox", "OutboxError", "Pending"]
_DELETE = "DELETE FROM outbox WHERE sample_id IN ({marks}) RETURNING sample_id, size"


@dataclass(frozen=True)
class Pending:
    """One sample waiting for delivery."""

    seq: int
    sample_id: str
    payload: bytes


class Outbox(Eviction):
    """A bounded, durable FIFO of encoded sample payloads, safe to use from several threads.

    In-flight tracking is in memory: a row handed out by :meth:`next_batch` is not handed out
    again until :meth:`release` (or a restart, which re-sends everything not confirmed).
    """

    def __init__(
        self,
        path: Path,
        max_rows: int = 20_000,
        max_bytes: int = 256 * 1024 * 1024,
        max_age_s: float = 7 * 24 * 3600.0,
        policy: Literal["drop_oldest", "drop_newest"] = "drop_oldest",
        min_free_bytes: int = 0,
    ) -> None:
        """``min_free_bytes``: free space to leave on the outbox's disk; below it the least
        valuable samples make room (``dropped_disk``) instead of the disk filling up."""
        self.path = Path(path)
        self.min_free_bytes = min_free_bytes
        self._unsaved: dict[str, int] = {}  # counts a full disk kept from being written
        self.max_rows, self.max_bytes, self.max_age_s, self.policy = (
            max_rows,
            max_bytes,
            max_age_s,
            policy,
        )
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._again: set[str] = set()  # released one by one: handed out again first
        self._cursor = 0  # seq of the newest row handed out by next_batch
        self.reserve = DiskReserve(
            self.path.with_name(self.path.name + RESERVE_SUFFIX), reserve_size(min_free_bytes), log
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = open_outbox_file(self.path, min_free_bytes)
        except (sqlite3.Error, OSError) as exc:
            if not self.reserve.release("opening the outbox"):  # the reserve of an earlier run
                raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from None
            try:
                self._db = open_outbox_file(self.path, min_free_bytes)
            except (sqlite3.Error, OSError) as again:
                raise OutboxError(f"cannot open the outbox {self.path}: {again}") from None
        try:
            row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from None
        if self.reserve.size and not self.reserve.ensure():  # a disk already full
            self._secure_delete_locked(False)
        self._rows, self._bytes = int(row[0]), int(row[1])

    # -- writing -------------------------------------------------------------------------------

    def put(
        self,
        sample_id: str,
        payload: bytes,
        created: float | None = None,
        selection: str | None = None,
    ) -> list[str]:
        """Commit one sample durably; return the ids dropped to respect the limits.

        When the disk is nearly full (``min_free_bytes``) or full, the least valuable samples
        (``SELECTION_VALUE``, then oldest) make room; if nothing can, the new sample itself is
        dropped. Both counted as ``dropped_disk``; a full disk never raises here.

        With policy ``drop_newest`` a full outbox refuses the new sample: its own id is returned.
        A sample id the outbox holds, or that the collector confirmed within ``max_age_s``, is
        not added again (a file's samples have ids derived from its content, so a re-run makes
        the same ones).
        """
        created = time.time() if created is None else created
        size = len(payload)
        with self._lock:
            try:
                held = self._db.execute(
                    "SELECT 1 FROM outbox WHERE sample_id = ? UNION ALL "
                    "SELECT 1 FROM delivered WHERE sample_id = ?",
                    (sample_id, sample_id),
                ).fetchone()
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot read the outbox {self.path}: {exc}") from None
            if held is not None:
                return []
            try:
                dropped = self._expire_locked(created)
            except OutboxError as exc:  # a full disk: they go at a later put
                log.warning("%s", exc)
                dropped = []
            if self.policy == "drop_newest" and (
                self._rows + 1 > self.max_rows or self._bytes + size > self.max_bytes
            ):
                reason = "dropped_rows" if self._rows + 1 > self.max_rows else "dropped_bytes"
                self._bump(reason, 1)
                return [*dropped, sample_id]
            value = SELECTION_VALUE.get(selection or "", 0)
            evicted, victims = self._insert_or_evict_locked(
                sample_id, created, size, payload, value
            )
            dropped += evicted
            if victims is None:  # the disk is full: not even the new sample fits
                return [*dropped, sample_id]
            if not self.reserve.held and self.reserve.ensure():  # the disk has room again
                self._secure_delete_locked(True)
            for _, vid, vsize in victims:
                self._rows -= 1
                self._bytes -= vsize
                self._inflight.discard(vid)
                self._again.discard(vid)
            self._rows += 1
            self._bytes += size
            return [*dropped, *(v[1] for v in victims)]

    def _insert_locked(
        self, sample_id: str, created: float, size: int, payload: bytes, value: int
    ) -> list[tuple[str, str, int]]:
        """One transaction: make room within the limits, insert, count. Raises sqlite3 errors
        (rolled back); other ``sqlite3.Error`` become ``OutboxError``."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            victims = self._make_room_locked(size)
            self._db.execute(
                "INSERT INTO outbox (sample_id, created, size, payload, value) "
                "VALUES (?, ?, ?, ?, ?)",
                (sample_id, created, size, payload, value),
            )
            self._db.execute(
                "INSERT INTO counters VALUES ('put', 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1"
            )
            self._db.execute("COMMIT")
        except sqlite3.OperationalError:
            self._rollback()
            raise
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"cannot write to the outbox {self.path}: {exc}") from None
        return victims

    def confirm(self, sample_ids: Iterable[str], *, quarantined: bool = False) -> list[str]:
        """The collector confirmed these samples: delete them; return the ids that were here.

        ``quarantined``: the collector refused them for good (counted apart from ``confirmed``).
        """
        ids = list(dict.fromkeys(sample_ids))
        if not ids:
            return []
        counter = "quarantined" if quarantined else "confirmed"
        with self._lock:
            for sid in ids:
                self._inflight.discard(sid)
                self._again.discard(sid)
            try:
                try:
                    gone = self._confirm_locked(ids, counter)
                except sqlite3.Error as exc:  # on a full disk a delete needs the reserve
                    if not (is_full(exc) and self._release_reserve_locked("deleting confirmed")):
                        raise
                    gone = self._confirm_locked(ids, counter)
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot delete confirmed samples: {exc}") from None
            self._rows -= len(gone)
            self._bytes -= sum(int(size) for _, size in gone)
        return [str(sid) for sid, _ in gone]

    def _confirm_locked(self, ids: list[str], counter: str) -> list[tuple[str, int]]:
        """Delete ``ids`` and count them in one transaction (rolled back on error)."""
        gone: list[tuple[str, int]] = []
        try:
            # A delete lost to a power cut only means one re-send (the collector keeps a
            # sample id once), so it skips the fsync; the next put's FULL commit syncs it.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                gone += self._db.execute(_DELETE.format(marks=",".join("?" * len(chunk))), chunk)
            if gone:
                self._count_in_tx(counter, len(gone))
                now = time.time()
                self._db.execute("DELETE FROM delivered WHERE at < ?", (now - self.max_age_s,))
                self._db.executemany(
                    "INSERT OR REPLACE INTO delivered VALUES (?, ?)",
                    [(sid, now) for sid, _ in gone],
                )
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            raise
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA synchronous=FULL")
        return gone

    # -- reading -------------------------------------------------------------------------------

    def next_batch(self, limit: int) -> list[Pending]:
        """Up to ``limit`` samples to publish, marked in flight: first those released one by
        one (oldest first), then the oldest never handed out."""
        if limit <= 0:
            return []
        with self._lock:
            out = self._again_batch(limit) if self._again else []
            if len(out) < limit:
                # Rows after the cursor were never handed out (the cursor only moves forward,
                # except on a release of everything).
                rows = self._db.execute(
                    "SELECT seq, sample_id, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                    (self._cursor, limit - len(out)),
                ).fetchall()
                fresh = [Pending(int(q), str(i), bytes(p)) for q, i, p in rows]
                if fresh:
                    self._cursor = fresh[-1].seq
                out += fresh
            self._inflight.update(p.sample_id for p in out)
            return out

    def _again_batch(self, limit: int) -> list[Pending]:
        """The oldest ``limit`` released rows (under the lock); ids gone from the outbox are
        forgotten."""
        ids = list(self._again)[:_CHUNK]
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT seq, sample_id, payload FROM outbox WHERE sample_id IN ({marks}) "
            "ORDER BY seq LIMIT ?",
            (*ids, limit),
        ).fetchall()
        if len(rows) < min(limit, len(ids)):  # some left the outbox: forget those
            present = {
                r[0]
                for r in self._db.execute(
                    f"SELECT sample_id FROM outbox WHERE sample_id IN ({marks})", ids
                )
            }
            self._again.difference_update(set(ids) - present)
        out = [Pending(int(q), str(i), bytes(p)) for q, i, p in rows]
        self._again.difference_update(p.sample_id for p in out)
        return out

    def release(self, sample_id: str | None = None) -> bool:
        """Forget that one (or every) sample is in flight, so it will be handed out again.

        Returns False if ``sample_id`` was not in flight (it left the outbox meanwhile).
        """
        with self._lock:
            if sample_id is None:  # e.g. a new session: everything again, in order
                self._inflight.clear()
                self._again.clear()
                self._cursor = 0
                return True
            if sample_id not in self._inflight:
                return False
            self._inflight.discard(sample_id)
            self._again.add(sample_id)
            return True

    def ids(self) -> list[str]:
        """Every sample id in the outbox, oldest first."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT sample_id FROM outbox ORDER BY seq")]

    @property
    def depth(self) -> int:
        """Number of samples waiting (including those in flight)."""
        return self._rows

    @property
    def bytes(self) -> int:
        """Payload bytes waiting."""
        return self._bytes

    @property
    def inflight(self) -> int:
        """Number of samples handed out and not yet confirmed (nor released)."""
        return len(self._inflight)

    def counters(self) -> dict[str, int]:
        """Persistent counters (survive restarts): put, confirmed, quarantined, dropped_*."""
        with self._lock:
            found = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
            unsaved = dict(self._unsaved)
        return {name: int(found.get(name, 0)) + unsaved.get(name, 0) for name in COUNTERS}

    def get_value(self, name: str, default: int = 0) -> int:
        """A persistent integer kept next to the queue (e.g. the next track id)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else default

    def set_value(self, name: str, value: int) -> None:
        """Store a persistent integer (committed durably)."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO counters VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (name, int(value)),
                )
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot write to the outbox {self.path}: {exc}") from None

    def drops(self) -> dict[str, int]:
        """Samples dropped by the outbox, by reason (``outbox_rows``, ``outbox_bytes``, ...)."""
        c = self.counters()
        return {f"outbox_{k.removeprefix('dropped_')}": c[k] for k in COUNTERS if "dropped" in k}

    def close(self) -> None:
        """Checkpoint and close the file."""
        with self._lock:
            # Another process may hold the WAL; closing is still safe then.
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # -- helpers -------------------------------------------------------------------------------

    def _bump(self, name: str, n: int) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._count_in_tx(name, n)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"cannot update outbox counters: {exc}") from None

    def _count_in_tx(self, name: str, n: int) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, n, n),
        )

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # no transaction was open
            self._db.execute("ROLLBACK")
