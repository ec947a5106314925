"""Pre-label model roll-out: the collector's retained ``model`` message -> a verified local file.

The download runs in its own thread so capture never waits for it. A model is used only if its
size and sha256 match the announcement and its classes are the announced ones; anything else is
logged and the running model stays. The swap itself happens in the capture thread, between
frames (the pipeline is not thread-safe).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import urllib.error
import urllib.request
from pathlib import Path

from facetrove import wire
from facetrove.agent.capture.prelabel import OnnxEmotionClassifier, PrelabelError

log = logging.getLogger(__name__)
_CHUNK = 64 * 1024


class ModelUpdateError(RuntimeError):
    """A model could not be fetched or does not match its announcement."""


def fetch_model(ann: wire.ModelAnnouncement, folder: Path, timeout: float = 30.0) -> Path:
    """Download ``ann.url`` into ``folder/<sha256>.onnx`` (kept: later announcements of the same
    model are instant), checking size and sha256 as it streams.

    Raises:
        ModelUpdateError: naming the URL and what was wrong.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{ann.sha256}.onnx"
    if target.is_file():
        return target
    if not ann.url.lower().startswith(("http://", "https://")):
        raise ModelUpdateError(f"model {ann.model_id}: only http(s) URLs are fetched: {ann.url}")
    part = target.with_suffix(".part")
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(ann.url, timeout=timeout) as resp, open(part, "wb") as out:
            while chunk := resp.read(_CHUNK):
                size += len(chunk)
                if size > ann.size:
                    raise ModelUpdateError(
                        f"model {ann.model_id}: {ann.url} is larger than the announced {ann.size} B"
                    )
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise ModelUpdateError(f"model {ann.model_id}: cannot fetch {ann.url}: {exc}") from None
    except ModelUpdateError:
        part.unlink(missing_ok=True)
        raise
    if size != ann.size or digest.hexdigest() != ann.sha256:
        part.unlink(missing_ok=True)
        got = digest.hexdigest()[:12]
        raise ModelUpdateError(
            f"model {ann.model_id}: {ann.url} gave {size} B with sha256 {got}..., "
            f"announced {ann.size} B with sha256 {ann.sha256[:12]}... (sha256 mismatch); "
            "keeping the current model"
        )
    part.replace(target)
    return target


class ModelUpdater:
    """Fetches announced models in the background and hands a loaded classifier to the runner."""

    def __init__(self, folder: Path, threads: int = 1, timeout: float = 30.0) -> None:
        self.folder = folder
        self.threads = threads
        self.timeout = timeout
        self.error: str | None = None
        self._ready: OnnxEmotionClassifier | None = None
        self._lock = threading.Lock()
        self._busy: str | None = None

    def announce(self, ann: wire.ModelAnnouncement, current_sha256: str | None) -> None:
        """Start fetching ``ann`` unless it is the model in use or already being fetched."""
        if ann.sha256 == current_sha256:
            log.info("model %s is already in use", ann.model_id)
            return
        with self._lock:
            if self._busy == ann.sha256:
                return
            self._busy = ann.sha256
        threading.Thread(target=self._fetch, args=(ann,), name="model-fetch", daemon=True).start()

    def _fetch(self, ann: wire.ModelAnnouncement) -> None:
        try:
            path = fetch_model(ann, self.folder, self.timeout)
            classifier = OnnxEmotionClassifier(path, model_id=ann.model_id, threads=self.threads)
            if list(classifier.classes) != list(ann.classes):
                classifier.close()
                raise ModelUpdateError(
                    f"model {ann.model_id}: its classes {list(classifier.classes)} differ from "
                    f"the announced {ann.classes}; keeping the current model"
                )
        except (ModelUpdateError, PrelabelError) as exc:
            self.error = str(exc)
            log.error("%s", exc)
            return
        finally:
            with self._lock:
                self._busy = None
        log.info("model %s (%s) fetched and loaded", ann.model_id, ann.sha256[:12])
        with self._lock:
            old, self._ready = self._ready, classifier
        if old is not None:
            old.close()

    def take(self) -> OnnxEmotionClassifier | None:
        """The newly loaded classifier, once (None if there is none)."""
        with self._lock:
            ready, self._ready = self._ready, None
        return ready
