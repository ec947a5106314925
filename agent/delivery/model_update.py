"""Pre-label model roll-out: the collector's retained ``model`` message -> a verified local file.

Only the collector the device is provisioned for may hand it a model: the announced URL must
lie under one of ``model_updates.sources()`` (by default ``<collector_url>/device/models/``),
the request logs in as this device (HTTP Basic with its broker login, never sent anywhere
else: redirects are refused), and a model larger than ``model_updates.max_bytes`` is refused
before any byte is fetched. A model is used only if its size and sha256 match the announcement
and its classes are the announced ones; a failed or rejected download leaves no file behind,
and the folder keeps the model in use and the one before it (``model_updates.keep``): the rest
are deleted and counted (``model_retention.py``).

The download runs in its own thread so capture never waits for it. The swap itself happens in
the capture thread, between frames (the pipeline is not thread-safe). The last announcement
wins, not the last download to finish: a download, or a loaded model not swapped in yet, whose
model is no longer the one announced last (another model, or the file in use) is dropped
(``model X: dropped, ...`` in the log; not an error, the status shows none).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from facetrove import wire
from facetrove.agent.capture.prelabel import OnnxEmotionClassifier, PrelabelError
from facetrove.agent.delivery.model_retention import DeletedModels, prune

log = logging.getLogger(__name__)
_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ModelUpdateError(RuntimeError):
    """A model could not be fetched or does not match its announcement."""


class Superseded(ModelUpdateError):
    """Another model was announced while this one downloaded: the download stopped."""


@dataclass(frozen=True)
class FetchPolicy:
    """Where models may come from, as whom, and how big they may be."""

    sources: list[str] = field(default_factory=list)
    login: tuple[str, str] | None = None
    max_bytes: int = 64 * 1024 * 1024
    keep: int = 2
    timeout: float = 30.0


def _origin(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port, parts.path


def check_source(url: str, sources: list[str]) -> None:
    """Raise ``ModelUpdateError`` unless ``url`` is under one of the ``sources`` prefixes.

    Compared part by part (scheme, host, port, path prefix), never as text: a login in the URL
    (``http://collector@evil/``), a dot segment (``/device/models/../x``) or another port is
    refused.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise ModelUpdateError(f"only http(s) URLs are fetched: {url}")
    if parts.username is not None or parts.password is not None or "\\" in url:
        raise ModelUpdateError(f"a model URL may not carry a login: {url}")
    if any(seg in (".", "..") for seg in unquote(parts.path).split("/")):
        raise ModelUpdateError(f"a model URL may not contain . or .. segments: {url}")
    try:
        scheme, host, port, path = _origin(url)
    except ValueError as exc:  # urllib: a port that is not a number, or out of range
        raise ModelUpdateError(f"a model URL needs a valid port ({exc}): {url}") from None
    for prefix in sources:
        p_scheme, p_host, p_port, p_path = _origin(prefix)
        if (scheme, host, port) == (p_scheme, p_host, p_port) and path.startswith(
            p_path if p_path.endswith("/") else p_path + "/"
        ):
            return
    allowed = ", ".join(sources) or "none: set model_updates.collector_url"
    raise ModelUpdateError(f"not from this device's collector ({allowed}): {url}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        raise ModelUpdateError(f"the model URL redirects to {newurl}: refused")


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch_model(
    ann: wire.ModelAnnouncement,
    folder: Path,
    policy: FetchPolicy,
    *,
    wanted: Callable[[], bool] | None = None,
) -> Path:
    """Download ``ann.url`` into ``folder/<sha256>.onnx`` (kept: later announcements of the same
    model are instant), checking source, size and sha256 as it streams, and ``wanted()`` before
    each chunk.

    Raises:
        ModelUpdateError: naming the URL and what was wrong; no partial file remains.
        Superseded: ``wanted()`` said no; no partial file remains.
    """
    check_source(ann.url, policy.sources)
    if ann.size > policy.max_bytes:
        raise ModelUpdateError(
            f"model {ann.model_id}: {ann.size} B is over model_updates.max_bytes "
            f"({policy.max_bytes} B); not fetched"
        )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{ann.sha256}.onnx"
    if target.is_file():
        target.touch()  # most recently used: pruned last
        return target
    part = target.with_suffix(".part")
    request = urllib.request.Request(ann.url)
    if policy.login is not None:
        token = base64.b64encode(":".join(policy.login).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    digest, size = hashlib.sha256(), 0
    try:
        with _OPENER.open(request, timeout=policy.timeout) as resp, open(part, "wb") as out:
            while chunk := resp.read(_CHUNK):
                if wanted is not None and not wanted():
                    raise Superseded(
                        f"model {ann.model_id}: dropped, another model was announced while it"
                        " downloaded"
                    )
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
    try:
        part.replace(target)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ModelUpdateError(f"model {ann.model_id}: cannot keep {target}: {exc}") from None
    return target


class ModelUpdater:
    """Fetches announced models in the background and hands a loaded classifier to the runner;
    only the model announced last is handed over."""

    def __init__(self, folder: Path, policy: FetchPolicy, threads: int = 1) -> None:
        self.folder = folder
        self.policy = policy
        self.threads = threads
        self.error: str | None = None
        self.deleted = DeletedModels(folder)  # what retention deleted, counted across runs
        self._ready: OnnxEmotionClassifier | None = None
        self._lock = threading.Lock()
        self._fetching: set[str] = set()  # sha256 of the downloads running
        self._wanted: str | None = None  # sha256 of the model announced last

    def want(self, sha256: str) -> None:
        """The last announcement names this file: any other download or loaded model is
        dropped (the file in use announced: nothing is fetched, nothing else swapped in)."""
        with self._lock:
            self._wanted = sha256
            stale, self._ready = self._ready, None
            if stale is not None and stale.model_sha256 == sha256:
                self._ready, stale = stale, None
        if stale is not None:
            log.info(
                "model %s: dropped, another model was announced before it was used", stale.model_id
            )
            stale.close()

    def announce(self, ann: wire.ModelAnnouncement, current_sha256: str | None) -> None:
        """Start fetching ``ann`` unless it is the model in use or already being fetched."""
        self.want(ann.sha256)
        if ann.sha256 == current_sha256:
            log.info("model %s is already in use", ann.model_id)
            return
        with self._lock:
            if ann.sha256 in self._fetching:
                return
            self._fetching.add(ann.sha256)
        self._start(ann)

    def _start(self, ann: wire.ModelAnnouncement) -> None:
        threading.Thread(target=self._fetch, args=(ann,), name="model-fetch", daemon=True).start()

    def _fetch(self, ann: wire.ModelAnnouncement) -> None:
        path: Path | None = None
        dropped = False
        try:
            path = fetch_model(
                ann, self.folder, self.policy, wanted=lambda: self._wanted == ann.sha256
            )
            classifier = OnnxEmotionClassifier(path, model_id=ann.model_id, threads=self.threads)
            if list(classifier.classes) != list(ann.classes):
                classifier.close()
                raise ModelUpdateError(
                    f"model {ann.model_id}: its classes {list(classifier.classes)} differ from "
                    f"the announced {ann.classes}; keeping the current model"
                )
            with self._lock:
                dropped = self._wanted != ann.sha256
                if not dropped:
                    old_ready, self._ready = self._ready, classifier
            if dropped:
                classifier.close()
                log.info(
                    "model %s: dropped, another model was announced while it loaded", ann.model_id
                )
                return
        except Superseded as exc:
            dropped = True
            log.info("%s", exc)
            return
        except (ModelUpdateError, PrelabelError) as exc:
            if path is not None and path.is_file():  # fetched but rejected: not kept
                size = path.stat().st_size
                path.unlink(missing_ok=True)
                self.deleted.add([("rejected", path, size)])
            if self._wanted != ann.sha256:  # nobody waits for it any more: not the device's error
                dropped = True
                log.info("model %s: dropped (another model was announced): %s", ann.model_id, exc)
                return
            self.error = f"model {ann.model_id} refused: {exc}"
            log.error("%s", self.error)
            return
        finally:
            with self._lock:
                self._fetching.discard(ann.sha256)
                again = dropped and self._wanted == ann.sha256  # announced again meanwhile
                if again:
                    self._fetching.add(ann.sha256)
            if again:
                self._start(ann)
        self.error = None
        log.info("model %s (%s) fetched and loaded", ann.model_id, ann.sha256[:12])
        with self._lock:
            busy = {self.folder / f"{sha}.part" for sha in self._fetching}
        self.deleted.add(prune(self.folder, self.policy.keep, current=path, busy=busy))
        if old_ready is not None:
            old_ready.close()

    def take(self) -> OnnxEmotionClassifier | None:
        """The newly loaded classifier, once (None if there is none)."""
        with self._lock:
            ready, self._ready = self._ready, None
        return ready
