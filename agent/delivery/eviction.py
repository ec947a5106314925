"""What leaves the outbox without a receipt: its limits (rows, bytes, age) and disk pressure.

``Eviction`` is a part of :class:`~facetrove.agent.delivery.outbox.Outbox` (a mixin: it works on
the outbox's connection, lock and running totals). Every sample it deletes is counted by reason
in the outbox file (``dropped_rows``, ``dropped_bytes``, ``dropped_age``, ``dropped_disk``), in
the same transaction as the delete. When the disk is nearly full (``min_free_bytes``) or full,
the least valuable samples (``SELECTION_VALUE``, then oldest) make room; a full disk never
raises from a put.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from facetrove.disk_reserve import DiskReserve

log = logging.getLogger("facetrove.agent.delivery.outbox")  # the outbox's log, as before
CHUNK = 500  # ids per DELETE statement (SQLite's variable limit is far above)

#: How much a sample is worth keeping when the disk fills, by why it was kept (its
#: ``selection``): the least valuable go first, oldest first among equals. Uncertain pre-labels
#: and asked-for classes teach the model most; heartbeats and stills are the easiest to replace.
SELECTION_VALUE = {
    "uncertain": 5,
    "class_target": 5,
    "expression_change": 4,
    "best_of_window": 3,
    "import": 2,
    "still": 1,
    "heartbeat": 1,
}


class OutboxError(RuntimeError):
    """The outbox file cannot be opened or written."""


class Eviction:
    """Limits and disk pressure of the outbox (mixed into ``Outbox``; call under its lock)."""

    path: Path
    min_free_bytes: int
    reserve: DiskReserve
    max_rows: int
    max_bytes: int
    max_age_s: float
    _db: sqlite3.Connection
    _lock: threading.Lock
    _rows: int
    _bytes: int
    _inflight: set[str]
    _again: set[str]
    _unsaved: dict[str, int]

    if TYPE_CHECKING:  # defined by Outbox

        def _insert_locked(
            self, sample_id: str, created: float, size: int, payload: bytes, value: int
        ) -> list[tuple[str, str, int]]: ...

        def _bump(self, name: str, n: int) -> None: ...

        def _count_in_tx(self, name: str, n: int) -> None: ...

        def _rollback(self) -> None: ...

    def _insert_or_evict_locked(
        self, sample_id: str, created: float, size: int, payload: bytes, value: int
    ) -> tuple[list[str], list[tuple[str, str, int]] | None]:
        """Insert one sample, making room on a nearly full or full disk first. Returns the ids
        evicted for disk space and the rows deleted by the limits (None: the disk is full and
        the new sample itself is dropped, counted)."""
        dropped: list[str] = []
        if self._disk_short(size):
            self._checkpoint_locked()
        if self._disk_short(size):
            dropped += self._evict_for_disk_locked(size, value)
        try:
            victims = self._insert_locked(sample_id, created, size, payload, value)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise OutboxError(f"cannot write to the outbox {self.path}: {exc}") from None
            # The disk filled between the check and the write (or another program filled
            # it): the reserve gives SQLite room to evict; make room, try once more.
            self._release_reserve_locked("a new sample")
            self._checkpoint_locked()
            evicted = self._evict_for_disk_locked(2 * size, value)
            dropped += evicted
            try:
                victims = self._insert_locked(sample_id, created, size, payload, value)
            except sqlite3.OperationalError as again:
                if again.sqlite_errorcode != sqlite3.SQLITE_FULL:
                    raise OutboxError(f"cannot write to the outbox {self.path}: {again}") from None
                self._bump_quietly("dropped_disk", 1)
                log.warning("outbox disk full: the new sample %s is dropped", sample_id)
                return dropped, None
        return dropped, victims

    def _disk_short(self, size: int) -> bool:
        if self.min_free_bytes <= 0:
            return False
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return False
        return free - size < self.min_free_bytes

    def _evict_for_disk_locked(self, size: int, value: int) -> list[str]:
        """Delete the least valuable samples worth less than or as much as ``value`` (oldest
        first among equals) until ``size`` bytes are freed inside the file, which SQLite reuses
        for the next insert. Returns their ids; never raises for a full disk (a delete needs
        room in the WAL too: on a full disk the reserve is released for it)."""
        try:
            return self._evict_once_locked(size, value)
        except sqlite3.Error as exc:
            if is_full(exc) and self._release_reserve_locked("evicting"):
                with contextlib.suppress(sqlite3.Error):
                    return self._evict_once_locked(size, value)
            log.warning("outbox disk nearly full and no room could be made: %s", exc)
            return []

    def _evict_once_locked(self, size: int, value: int) -> list[str]:
        gone: list[tuple[str, int]] = []
        freed = 0
        try:
            rows = self._db.execute(
                "SELECT sample_id, size FROM outbox WHERE value <= ? ORDER BY value, seq",
                (value,),
            ).fetchall()
            for sid, vsize in rows:
                if freed >= size:
                    break
                gone.append((sid, int(vsize)))
                freed += int(vsize)
            if not gone:
                return []
            self._db.execute("BEGIN IMMEDIATE")
            for start in range(0, len(gone), CHUNK):
                chunk = [sid for sid, _ in gone[start : start + CHUNK]]
                marks = ",".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM outbox WHERE sample_id IN ({marks})", chunk)
            unsaved = self._unsaved.pop("dropped_disk", 0)
            self._count_in_tx("dropped_disk", len(gone) + unsaved)
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._unsaved["dropped_disk"] = unsaved
                raise
        except sqlite3.Error:
            self._rollback()
            raise
        # Deleted pages sit in the WAL until a checkpoint: give the disk space back now.
        self._checkpoint_locked()
        for sid, vsize in gone:
            self._rows -= 1
            self._bytes -= vsize
            self._inflight.discard(sid)
            self._again.discard(sid)
        log.warning(
            "outbox disk nearly full: dropped %d less valuable sample(s) to keep the new one",
            len(gone),
        )
        return [sid for sid, _ in gone]

    def _bump_quietly(self, name: str, n: int) -> None:
        """Count; when even that cannot be written (the disk is full), keep the count in
        memory until the next eviction writes it (``counters`` includes it meanwhile)."""
        try:
            self._bump(name, n)
        except OutboxError:
            self._unsaved[name] = self._unsaved.get(name, 0) + n

    def _release_reserve_locked(self, why: str) -> bool:
        """Delete the disk reserve and checkpoint (the WAL's pages go into the file): whether
        there was a reserve to release. From then on deleted samples are no longer overwritten
        with zeros (SQLite's secure_delete, on in Debian's build, which Raspberry Pi OS shares):
        that costs as much room in the WAL as the sample took, and a full disk has none."""
        if not self.reserve.release(why):
            return False
        self._secure_delete_locked(False)
        self._checkpoint_locked()
        return True

    def _secure_delete_locked(self, on: bool) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute(f"PRAGMA secure_delete={'ON' if on else 'FAST'}")

    def _checkpoint_locked(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _make_room_locked(self, size: int) -> list[tuple[str, str, int]]:
        """Delete the oldest rows until one more of ``size`` bytes fits (inside a transaction)."""
        victims: list[tuple[str, str, int]] = []
        rows, total = self._rows, self._bytes
        if rows + 1 <= self.max_rows and total + size <= self.max_bytes:
            return victims
        cur = self._db.execute("SELECT sample_id, size FROM outbox ORDER BY seq")
        for sid, vsize in cur:
            if rows + 1 <= self.max_rows and total + size <= self.max_bytes:
                break
            reason = "dropped_rows" if rows + 1 > self.max_rows else "dropped_bytes"
            victims.append((reason, sid, int(vsize)))
            rows -= 1
            total -= int(vsize)
        cur.close()
        for reason, sid, _ in victims:
            self._db.execute("DELETE FROM outbox WHERE sample_id = ?", (sid,))
            self._count_in_tx(reason, 1)
        return victims

    def expire(self, now: float | None = None) -> list[str]:
        """Drop samples older than ``max_age_s``; return their ids."""
        with self._lock:
            return self._expire_locked(time.time() if now is None else now)

    def _expire_locked(self, now: float) -> list[str]:
        try:
            return self._expire_once_locked(now)
        except OutboxError as exc:
            if not (isinstance(exc.__cause__, sqlite3.Error) and is_full(exc.__cause__)):
                raise
            if not self._release_reserve_locked("expiring old samples"):
                raise
            return self._expire_once_locked(now)

    def _expire_once_locked(self, now: float) -> list[str]:
        cutoff = now - self.max_age_s
        try:
            # Rows are put in time order: looking at the oldest avoids a scan on every put.
            oldest = self._db.execute("SELECT created FROM outbox ORDER BY seq LIMIT 1").fetchone()
            if oldest is None or oldest[0] >= cutoff:
                return []
            old = self._db.execute(
                "SELECT sample_id, size FROM outbox WHERE created < ? ORDER BY seq", (cutoff,)
            ).fetchall()
            if not old:
                return []
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM outbox WHERE created < ?", (cutoff,))
            self._count_in_tx("dropped_age", len(old))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"cannot expire old samples in {self.path}: {exc}") from exc
        for sid, size in old:
            self._rows -= 1
            self._bytes -= int(size)
            self._inflight.discard(sid)
            self._again.discard(sid)
        return [sid for sid, _ in old]


def is_full(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the disk is full (by the error's code, not its text)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_FULL
