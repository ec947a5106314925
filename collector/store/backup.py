"""A consistent copy of the store while ingest keeps running.

The database is copied with SQLite's online backup API (a snapshot of one instant, WAL
included); then every blob that the *copy* references is copied and its sha256 checked. Blobs
are written before the rows that reference them and never change, so the copy is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME
from facetrove.collector.store.integrity import DamagedStore, problems

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class BackupError(RuntimeError):
    """The backup cannot be made (destination not empty, store missing, bad blobs)."""


@dataclass
class BackupResult:
    """What a backup copied."""

    dest: Path
    samples: int = 0
    blobs: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)


def backup(data_dir: Path, dest: Path, progress: Progress | None = None) -> BackupResult:
    """Copy ``data_dir``'s database and referenced blobs into the new folder ``dest``.

    Raises:
        BackupError: no store at ``data_dir``, ``dest`` exists and is not empty, the source
            database is damaged, writing the copy failed (disk full, read-only, I/O error: the
            partial copy is removed), or some blob is missing or does not match its sha256 (the
            copy is kept, named in the message). Its message is one line.
    """
    src_db = data_dir / DB_NAME
    if not src_db.exists():
        raise BackupError(f"no store at {data_dir} ({DB_NAME} not found)")
    if dest.is_dir() and any(dest.iterdir()):
        raise BackupError(f"{dest} exists and is not empty; give a new folder")
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"{dest} is a file, not a folder; give a new folder")
    created = not dest.exists()
    try:
        return _backup(src_db, data_dir, dest, progress)
    except BackupError:
        raise
    except DamagedStore as exc:
        _remove_partial(dest, created)
        raise BackupError(
            f"the store {exc.path} is damaged ({exc.problem}); no backup was made, so keep the "
            f"last good one; salvage what is readable with `sqlite3 {exc.path.name} .recover`"
        ) from None
    except (OSError, sqlite3.Error) as exc:
        removed = _remove_partial(dest, created)
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
        raise BackupError(
            f"backup to {dest} failed: {what}{where}; "
            + ("the partial copy was removed" if removed else "nothing was written")
        ) from None


def _backup(src_db: Path, data_dir: Path, dest: Path, progress: Progress | None) -> BackupResult:
    report = progress or (lambda _stage, _done, _total: None)
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / (DB_NAME + ".part")

    src = sqlite3.connect(src_db, timeout=30)
    dst = sqlite3.connect(part)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(
            dst,
            pages=2048,
            progress=lambda _s, left, total: report("database", total - left, total),
        )
        dst.commit()
        # The online backup copies pages as they are: a damaged source gives a damaged copy.
        try:
            found = problems(dst)
        except sqlite3.DatabaseError as exc:
            found = [str(exc)]
        if found:
            raise DamagedStore(src_db, f"quick_check of the copy: {found[0][:200]}")
        shas = _referenced(dst)
        samples = int(dst.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    finally:
        dst.close()
        src.close()

    result = BackupResult(dest=dest, samples=samples)
    source, target = BlobStore(data_dir / "blobs"), BlobStore(dest / "blobs")
    for i, sha in enumerate(shas, 1):
        try:
            data = source.get(sha)
        except FileNotFoundError:
            result.missing.append(sha)
            continue
        if hashlib.sha256(data).hexdigest() != sha:
            result.corrupt.append(sha)
            continue
        target.put(data, sha, fsync=False)
        result.blobs += 1
        result.bytes += len(data)
        report("images", i, len(shas))
    for extra in ("broker/credentials.json", "broker/passwd", "web-secret-key"):
        if (data_dir / extra).exists():
            (dest / extra).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data_dir / extra, dest / extra)
    os.sync()  # one flush for all copied files before the database gets its final name
    os.replace(part, dest / DB_NAME)
    manifest = {
        "created_at": datetime.now(timezone.utc).isoformat(),
        "source": str(data_dir.resolve()),
        "samples": result.samples,
        "blobs": result.blobs,
        "bytes": result.bytes,
        "missing": result.missing,
        "corrupt": result.corrupt,
    }
    (dest / "backup.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if result.missing or result.corrupt:
        raise BackupError(
            f"backup in {dest} is incomplete: {len(result.missing)} image(s) missing, "
            f"{len(result.corrupt)} corrupt in the source (listed in backup.json)"
        )
    return result


def _remove_partial(dest: Path, created: bool) -> bool:
    """Remove what a failed backup wrote: ``dest`` itself if it created it, else its content.

    Returns whether anything was there to remove.
    """
    if not dest.is_dir():
        return False
    entries = list(dest.iterdir())
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return True
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return bool(entries)


def _referenced(db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT crop_sha256 FROM samples UNION SELECT frame_sha256 FROM samples "
        "WHERE frame_sha256 IS NOT NULL"
    ).fetchall()
    return sorted(r[0] for r in rows if r[0])
