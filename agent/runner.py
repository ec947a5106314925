"""The agent's run loop: source -> pipeline -> outbox -> publisher, and a clean shutdown.

Threads: the capture loop runs in the calling (main) thread, which also handles signals and the
preview window; the publisher's delivery thread drains the outbox; paho's network thread talks
to the broker. A finite source (file, folder) ends with a bounded drain of the outbox. The
collector's config and model messages are handled by ``orders.py``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from facetrove import wire
from facetrove.agent.capture.open_source import is_live, open_source
from facetrove.agent.capture.pipeline import Pipeline, PipelineLike, Ready
from facetrove.agent.capture.source import Source, SourceError
from facetrove.agent.config import AgentConfig
from facetrove.agent.delivery.outbox import Outbox, OutboxError
from facetrove.agent.delivery.publisher import Publisher, PublisherError, check_tls_files
from facetrove.agent.delivery.stats import IdLog, RunStats, build_stats
from facetrove.agent.drain import no_capture, no_pipeline
from facetrove.agent.metrics import AgentMetrics, start_metrics
from facetrove.agent.orders import Orders
from facetrove.agent.outcome import (
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_UNDELIVERED,
    RunResult,
)
from facetrove.metrics_http import MetricsServer

log = logging.getLogger(__name__)

_TRACK_KEY = "next_track_id"


def _default_source(config: AgentConfig) -> Source:
    return open_source(config.source.spec, config.source)


def _default_pipeline(config: AgentConfig, start_track_id: int) -> PipelineLike:
    pipeline: PipelineLike = Pipeline.from_config(
        config.device_id,
        detector=config.detector,
        quality=config.quality,
        sampler=config.sampler,
        crop=config.crop,
        prelabel=config.prelabel,
        start_track_id=start_track_id,
    )
    return pipeline


class Runner:
    """One agent run. ``run()`` returns a :class:`RunResult`; it never calls ``sys.exit``."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        source_factory: Callable[[AgentConfig], Source] = _default_source,
        pipeline_factory: Callable[[AgentConfig, int], PipelineLike] = _default_pipeline,
        id_log: Path | None = None,
        drain_only: bool = False,
    ) -> None:
        self.config = config
        self.drain_only = drain_only  # deliver the outbox, capture nothing (`agent drain`)
        if drain_only:
            source_factory, pipeline_factory = no_capture, no_pipeline
        self.source_factory, self.pipeline_factory = source_factory, pipeline_factory
        self.id_log = IdLog(id_log)
        self.stats = RunStats()
        self.accepted_ids: list[str] = []
        self._stop = threading.Event()
        self.orders = Orders(config, lambda: self.pipeline, lambda: self.publisher)
        self.outbox: Outbox | None = None
        self.publisher: Publisher | None = None
        self.metrics: MetricsServer | None = None  # the optional /metrics server
        self.pipeline: PipelineLike | None = None
        self.final_depth: int | None = None  # set at shutdown, for the summary
        self.unreadable = 0  # files a folder source could not read, for the summary
        self.skipped_videos = 0  # video files a folder source named and left unread
        self.final_drops: dict[str, int] = {}

    @property
    def paused(self) -> bool:
        """Paused by the collector's config."""
        return self.orders.paused

    @property
    def revision(self) -> int | None:
        """The collector's config revision applied."""
        return self.orders.revision

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Stop capturing and shut down cleanly (signal handler)."""
        if signum is not None:
            log.info("received %s: stopping", signal.Signals(signum).name)
        self._stop.set()

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run until the source ends and the outbox drained, a signal, or a fatal error."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self.request_stop)
        try:
            result = self._run()
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        result.summary = self._summary(result)
        return result

    def _run(self) -> RunResult:
        cfg = self.config
        try:
            check_tls_files(cfg)
        except PublisherError as exc:
            return RunResult(EXIT_CONFIG, "config", str(exc))
        try:
            o = cfg.outbox
            self.outbox = Outbox(
                o.path,
                o.max_rows,
                o.max_bytes,
                o.max_age_s,
                o.policy,
                min_free_bytes=int(o.min_free_mb * 1024 * 1024),
            )
        except OutboxError as exc:
            return RunResult(EXIT_ERROR, "outbox", str(exc))
        try:
            source = self.source_factory(cfg)
        except SourceError as exc:
            return RunResult(EXIT_ERROR, "source", str(exc))
        try:
            try:
                self.pipeline = self.pipeline_factory(cfg, self.outbox.get_value(_TRACK_KEY))
            except (RuntimeError, OSError, ValueError) as exc:
                return RunResult(EXIT_ERROR, "pipeline", f"cannot start the pipeline: {exc}")
            self.publisher = Publisher(
                cfg,
                self.outbox,
                inbox=self.orders.inbox(),
                stats=self._stats,
                status_extra={
                    "model_id": self.pipeline.model_id,
                    "detector": self.pipeline.detector_name,
                    "source": source.label[:512],
                    "model_files_deleted": self.orders.updater.deleted.total,
                },
                id_log=self.id_log,
            )
            self.publisher.start()
            self.metrics = start_metrics(cfg.metrics, AgentMetrics(self))
            ended = self._capture(source)
        except SourceError as exc:
            return RunResult(EXIT_ERROR, "source", str(exc))
        except OutboxError as exc:
            return RunResult(EXIT_ERROR, "outbox", str(exc))
        finally:
            source.close()
            self.unreadable = int(getattr(source, "skipped", 0))
            self.skipped_videos = int(getattr(source, "skipped_videos", 0))
        if self.publisher.fatal:
            return RunResult(EXIT_UNDELIVERED, "refused", self._kept(self.publisher.fatal))
        if ended and (self.drain_only or not is_live(cfg.source.spec)):
            return self._drain()
        return RunResult(EXIT_OK, "stopped")

    def _capture(self, source: Source) -> bool:
        """The capture loop; True if the source ended by itself, False if stopped."""
        assert self.pipeline is not None and self.publisher is not None
        live = is_live(self.config.source.spec)
        preview = None
        if self.config.run.preview:
            from facetrove.agent.preview import open_preview

            preview = open_preview()
        for frame in source:
            self.orders.apply_pending()
            while self.paused and not live and not self._stopping():
                time.sleep(0.05)
                self.orders.apply_pending()
            if self._stopping():
                return False
            if self.paused:
                continue  # live sources keep reading so the camera buffer stays fresh
            ready = self.pipeline.process(frame)
            self._deliver(ready)
            if preview is not None and not preview.show(frame, self.pipeline, ready):
                preview = None
        self._deliver(self.pipeline.flush())
        return not self._stopping()

    def _stopping(self) -> bool:
        return self._stop.is_set() or bool(self.publisher and self.publisher.fatal)

    def _deliver(self, ready: Iterable[Ready]) -> None:
        assert self.outbox is not None and self.publisher is not None
        for item in ready:
            sid = item.header.sample_id
            dropped = self.outbox.put(sid, item.encode(), selection=item.header.selection)
            self.stats.accepted += 1
            self.accepted_ids.append(sid)
            self.id_log.write("put", sid)
            for d in dropped:
                self.id_log.write("drop", d)
            if dropped:
                log.warning("outbox full: dropped %d sample(s) (%s)", len(dropped), "limit")
            self.publisher.wake()

    def _drain(self) -> RunResult:
        """After a finite source ended: wait (bounded) until the broker acknowledged everything."""
        assert self.outbox is not None and self.publisher is not None
        pub, run_cfg = self.publisher, self.config.run
        start = time.monotonic()
        log.info("source ended; delivering %d sample(s) from the outbox", self.outbox.depth)
        while self.outbox.depth > 0:
            now = time.monotonic()
            if pub.fatal:
                return RunResult(EXIT_UNDELIVERED, "refused", self._kept(pub.fatal))
            if self._stop.is_set():
                return RunResult(EXIT_OK, "stopped")
            since = pub.disconnected_since
            if since is not None and now - max(since, start) > self.config.broker.connect_timeout_s:
                return RunResult(
                    EXIT_UNDELIVERED,
                    "unreachable",
                    self._kept(
                        f"no connection to the broker {self.config.broker.masked_url()} for "
                        f"{self.config.broker.connect_timeout_s:g}s"
                    ),
                )
            if now - start > run_cfg.drain_timeout_s:
                return RunResult(
                    EXIT_UNDELIVERED,
                    "timeout",
                    self._kept(f"the outbox did not drain in {run_cfg.drain_timeout_s:g}s"),
                )
            self.orders.apply_pending()
            time.sleep(0.05)
        return RunResult(EXIT_OK, "drained")

    def _kept(self, why: str) -> str:
        depth = self.outbox.depth if self.outbox else 0
        path = self.config.outbox.path
        return f"{why}; {depth} sample(s) are kept in the outbox {path} and will be sent next run"

    def _shutdown(self) -> None:
        """Flush, close the detector, publish status offline, disconnect. Never raises."""
        pub, outbox = self.publisher, self.outbox
        connected = pub is not None and pub.connected.is_set() and not pub.fatal
        flushed = (
            pub.flush(self.config.run.flush_timeout_s, drain=True) if pub and connected else True
        )
        if not flushed and outbox is not None:
            log.warning("%d sample(s) stay in the outbox for the next run", outbox.depth)
        if self.pipeline is not None:
            try:
                if outbox is not None:
                    outbox.set_value(_TRACK_KEY, self.pipeline.next_track_id)
                self.pipeline.close()
            except (RuntimeError, OSError, OutboxError) as exc:
                log.warning("closing the pipeline: %s", exc)
        if self.metrics is not None:
            self.metrics.close()
        if pub is not None:
            pub.stop()
        if outbox is not None:
            self.final_depth = outbox.depth
            self.final_drops = outbox.drops()
            outbox.close()
        self.id_log.close()

    # -- reporting -----------------------------------------------------------------------------

    def _stats(self) -> wire.Stats:
        assert self.outbox is not None and self.publisher is not None
        counters = self.pipeline.counters if self.pipeline is not None else None
        if counters is not None:
            self.stats.frames, self.stats.faces = counters.frames, counters.faces
        return build_stats(
            device_id=self.config.device_id,
            run=self.stats,
            sent=self.publisher.sent,
            depth=self.outbox.depth,
            outbox_bytes=self.outbox.bytes,
            outbox_drops=self.outbox.drops(),
            pipeline_drops=dict(counters.drops) if counters is not None else {},
            model_id=self.pipeline.model_id if self.pipeline else None,
            paused=self.paused,
            revision=self.revision,
            model_files_deleted=self.orders.updater.deleted.total,
        )

    def _summary(self, result: RunResult) -> dict[str, Any]:
        counters = self.pipeline.counters if self.pipeline is not None else None
        return {
            "event": "summary",
            "device_id": self.config.device_id,
            "exit_code": result.exit_code,
            "reason": result.reason,
            "message": result.message,
            "source": self.config.source.spec,
            "duration_s": round(self.stats.uptime(), 3),
            "frames": counters.frames if counters else 0,
            "faces": counters.faces if counters else 0,
            "unreadable_files": self.unreadable,
            "skipped_videos": self.skipped_videos,
            "samples_accepted": self.stats.accepted,
            "samples_sent": self.publisher.sent if self.publisher else 0,
            "outbox_depth": self.final_depth,
            "outbox_path": str(self.config.outbox.path),
            "outbox_dropped": self.final_drops,
            "drops": dict(counters.drops) if counters else {},
            "config_revision": self.revision,
            "accepted_ids": self.accepted_ids,
        }
