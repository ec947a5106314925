"""The collector's orders to a running agent: config revisions (pause included) and new models.

They arrive in paho's network thread (the ``CollectorInbox`` of :meth:`Orders.inbox` calls
:meth:`Orders.on_config` and :meth:`Orders.on_model`). A pause takes effect at once for
delivery; the pipeline is not thread-safe, so whatever changes it (overrides, a fetched model)
is applied in the capture thread between frames (:meth:`Orders.apply_pending`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from facetrove import wire
from facetrove.agent.capture.pipeline import PipelineLike
from facetrove.agent.config import AgentConfig
from facetrove.agent.config.remote import check_remote_config
from facetrove.agent.delivery.inbox import CollectorInbox
from facetrove.agent.delivery.model_update import FetchPolicy, ModelUpdater
from facetrove.agent.delivery.publisher import Publisher
from facetrove.config import format_errors

log = logging.getLogger(__name__)


def _one_line(exc: ValueError) -> str:
    """A refused override as one log line (pydantic's own text spans lines and echoes input)."""
    if isinstance(exc, ValidationError):
        return "; ".join(line.removeprefix("<root>: ") for line in format_errors(exc))
    return str(exc)


def model_updater(config: AgentConfig) -> ModelUpdater:
    """The fetcher of announced models, as ``model_updates`` configures it."""
    mu = config.model_updates
    user, password = config.broker.credentials()
    policy = FetchPolicy(
        sources=mu.sources(),
        login=(user, password or "") if user else None,
        max_bytes=mu.max_bytes,
        keep=mu.keep,
        timeout=mu.fetch_timeout_s,
    )
    return ModelUpdater(
        mu.dir or Path(config.outbox.path).parent / "models",
        policy,
        threads=config.prelabel.threads,
    )


class Orders:
    """Config and model messages of one run, checked and applied.

    ``pipeline`` and ``publisher`` give the run's current ones (None before they exist).
    """

    def __init__(
        self,
        config: AgentConfig,
        pipeline: Callable[[], PipelineLike | None],
        publisher: Callable[[], Publisher | None],
    ) -> None:
        self.config = config
        self._pipeline, self._publisher = pipeline, publisher
        self.updater = model_updater(config)
        self.paused = False
        self.revision: int | None = None  # the config revision applied
        self._accepted_revision: int | None = None  # the newest one checked and accepted
        self.announced_model: str | None = None
        self._rename: str | None = None  # the collector's name for the model in use
        self._pending_cfg: wire.AgentConfig | None = None
        self._cfg_lock = threading.Lock()

    def inbox(self) -> CollectorInbox:
        """The inbox that routes this device's config and model messages here."""
        return CollectorInbox(
            self.config.device_id,
            on_config=self.on_config,
            on_model=self.on_model,
            after=self._wake_delivery,
        )

    # -- in the network thread -----------------------------------------------------------------

    def on_config(self, cfg: wire.AgentConfig) -> None:
        """A retained config message: checked whole, then pause at once, the rest queued."""
        # A config is checked whole before any of it, pause included, takes effect; one that is
        # refused or older than the one in force changes nothing. (Within a run: after a
        # restart the retained config is the current one.)
        newest = self._accepted_revision
        if newest is not None and cfg.revision <= newest:
            if cfg.revision < newest:
                log.warning(
                    "config revision %d ignored: revision %d is in force", cfg.revision, newest
                )
            return
        try:
            check_remote_config(self.config, cfg)
        except ValueError as exc:
            log.error(
                "config revision %d refused (%s); revision %s stays in force (paused=%s)",
                cfg.revision,
                _one_line(exc),
                newest,
                self.paused,
            )
            return
        self._accepted_revision = cfg.revision
        with self._cfg_lock:
            self._pending_cfg = cfg
        # Pause takes effect at once for delivery; the pipeline picks the rest up between frames.
        self.paused = cfg.paused
        publisher = self._publisher()
        if publisher is not None:
            publisher.paused = cfg.paused
        log.info("config revision %d received (paused=%s)", cfg.revision, cfg.paused)

    def on_model(self, ann: wire.ModelAnnouncement) -> None:
        """A retained model announcement: fetched in the background unless updates are off."""
        self.announced_model = ann.model_id
        pipeline = self._pipeline()
        classifier = pipeline.classifier if pipeline is not None else None
        if not self.config.model_updates.enabled or classifier is None:
            log.info("model %s announced; ignored (model updates or pre-label off)", ann.model_id)
            return
        if ann.sha256 == classifier.model_sha256:
            # The file in use, under the collector's name (a rollback to the model this device
            # kept): no download; its samples take that name, and a refusal reported before
            # no longer stands.
            log.info("model %s announced: the file in use, now named so", ann.model_id)
            self.updater.want(ann.sha256)  # a download still running for another is dropped
            with self._cfg_lock:
                self._rename = ann.model_id
            self.updater.error = None
            return
        log.info("model %s announced; fetching %s", ann.model_id, ann.url)
        self.updater.announce(ann, classifier.model_sha256)

    def _wake_delivery(self) -> None:
        publisher = self._publisher()
        if publisher is not None:
            publisher.wake()

    # -- in the capture thread, between frames ---------------------------------------------------

    def apply_pending(self) -> None:
        """Switch to a fetched model, and apply the newest accepted config to the pipeline."""
        self._swap_model()
        with self._cfg_lock:
            cfg, self._pending_cfg = self._pending_cfg, None
        pipeline = self._pipeline()
        if cfg is None or pipeline is None:
            return
        try:
            pipeline.apply_config(cfg)
        except ValueError as exc:
            log.error(
                "config revision %d not applied (%s); keeping the previous",
                cfg.revision,
                _one_line(exc),
            )
            return
        self.revision = cfg.revision
        log.info("applied config revision %d", cfg.revision)

    def _swap_model(self) -> None:
        """Switch the pipeline to a newly fetched classifier, and show in the status why an
        announced model was refused (the old one stays in use) and how many model files
        retention deleted."""
        publisher = self._publisher()
        if publisher is not None:
            shown = {
                "model_error": (self.updater.error or "")[:512],
                "model_files_deleted": self.updater.deleted.total,
            }
            if any(publisher.status_extra.get(k, "") != v for k, v in shown.items()):
                publisher.status_extra.update(shown)
                publisher.publish_status()
        new = self.updater.take()
        pipeline = self._pipeline()
        with self._cfg_lock:
            rename, self._rename = self._rename, None
        current = pipeline.classifier if pipeline is not None else None
        if rename and new is None and current is not None and current.model_id != rename:
            current.model_id = rename
            log.info("pre-label model is now named %s", rename)
            if publisher is not None:
                publisher.status_extra["model_id"] = rename
                publisher.publish_status()
        if new is None or pipeline is None:
            return
        pipeline.swap_classifier(new)
        log.info("pre-label model is now %s", new.model_id)
        if publisher is not None:
            publisher.status_extra["model_id"] = new.model_id
            publisher.publish_status()
