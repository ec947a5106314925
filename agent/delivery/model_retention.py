"""Retention of downloaded model files: the folder keeps the model in use and the ones before it
(``model_updates.keep``, 2: the current and the previous, for a quick rollback); the rest are
deleted, and what was deleted is counted by reason in ``deleted.json`` beside them (kept across
restarts, like the outbox's drop counters).

Reasons: ``retention`` (older than the ``keep`` most recently used files), ``partial`` (a
download cut off by a crash or power cut), ``rejected`` (a complete file that failed its checks:
classes that differ from the announcement, a file onnxruntime cannot load).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

REASONS = ("retention", "rejected", "partial")
#: (reason, file, bytes) of one deleted file.
Deleted = tuple[str, Path, int]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def prune(
    folder: Path, keep: int, current: Path | None = None, busy: set[Path] | None = None
) -> list[Deleted]:
    """Delete stray partial downloads (not the ``busy`` ones, still being written) and all but
    the ``keep`` most recently used model files; ``current`` (the model in use) always stays and
    counts as one of them."""
    removed: list[Deleted] = []
    for stray in folder.glob("*.part"):
        if stray in (busy or set()):
            continue
        size = _size(stray)
        stray.unlink(missing_ok=True)
        removed.append(("partial", stray, size))
    files = sorted(folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    if current is not None and current in files:
        files.remove(current)
        files.insert(0, current)
    for old in files[max(keep, 1) :]:
        size = _size(old)
        old.unlink(missing_ok=True)
        removed.append(("retention", old, size))
    return removed


class DeletedModels:
    """What retention deleted from one models folder: files by reason and bytes, all runs."""

    FILE = "deleted.json"

    def __init__(self, folder: Path) -> None:
        self.path = folder / self.FILE
        self._lock = threading.Lock()
        self._files = dict.fromkeys(REASONS, 0)
        self.bytes = 0
        try:
            saved = json.loads(self.path.read_text())
            self._files.update({r: int(saved["files"].get(r, 0)) for r in REASONS})
            self.bytes = int(saved.get("bytes", 0))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("%s cannot be read (%s): deleted model files are counted from zero",
                        self.path, exc)  # fmt: skip

    @property
    def total(self) -> int:
        """Model files deleted, all reasons."""
        return sum(self._files.values())

    def by_reason(self) -> dict[str, int]:
        """Model files deleted, by reason (every reason present, zeros included)."""
        with self._lock:
            return dict(self._files)

    def add(self, deleted: list[Deleted]) -> None:
        """Count deleted files, save the counts, and log them on one line."""
        if not deleted:
            return
        with self._lock:
            for reason, _, size in deleted:
                self._files[reason] += 1
                self.bytes += size
            self._save()
            total = sum(self._files.values())
        names = ", ".join(f"{path.name} ({reason})" for reason, path, _ in deleted)
        log.info(
            "model files deleted: %d, %d bytes: %s; %d deleted from %s in all",
            len(deleted),
            sum(size for _, _, size in deleted),
            names,
            total,
            self.path.parent,
        )

    def _save(self) -> None:
        part = self.path.with_name(self.FILE + ".tmp")
        try:
            part.write_text(json.dumps({"files": self._files, "bytes": self.bytes}))
            os.replace(part, self.path)
        except OSError as exc:  # a full disk: the counts stay in memory for this run
            log.warning("cannot save %s (%s): its counts live only in this run", self.path, exc)
