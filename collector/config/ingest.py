"""`ingest:` section: how the collector takes samples off the broker and commits them."""

from __future__ import annotations

from pydantic import Field

from facetrove.config import Section
from facetrove.wire import MAX_PAYLOAD_BYTES, ImageLimits

_CAPS = ImageLimits()


class IngestConfig(Section):
    batch_max: int = Field(
        default=512,
        ge=1,
        le=10_000,
        description="most samples committed in one transaction (one file-system sync each)",
    )
    batch_ms: float = Field(
        default=20.0,
        gt=0,
        le=5_000,
        description="longest wait (ms) for more samples before committing a partial batch; "
        "acks wait at most this long plus the commit",
    )
    max_payload_bytes: int = Field(
        default=MAX_PAYLOAD_BYTES,
        ge=1024,
        le=64 * 1024 * 1024,
        description="samples larger than this are rejected (reason too_large) before parsing",
    )
    crop_max_side: int = Field(
        default=_CAPS.crop_max_side,
        ge=16,
        le=16384,
        description="crops whose JPEG header declares a longer side are rejected "
        "(image_too_large) before any decode",
    )
    crop_max_pixels: int = Field(
        default=_CAPS.crop_max_pixels,
        ge=256,
        le=16384 * 16384,
        description="crops declaring more pixels (width x height) are rejected before any decode",
    )
    frame_max_side: int = Field(
        default=_CAPS.frame_max_side,
        ge=16,
        le=16384,
        description="full frames whose JPEG header declares a longer side are rejected",
    )
    frame_max_pixels: int = Field(
        default=_CAPS.frame_max_pixels,
        ge=256,
        le=16384 * 16384,
        description="full frames declaring more pixels are rejected before any decode",
    )
    quarantine_max_rows: int = Field(
        default=10_000, ge=0, description="rejected messages kept for inspection; oldest pruned"
    )
    quarantine_head_bytes: int = Field(
        default=256, ge=0, le=65_536, description="bytes of each rejected payload kept"
    )
    shared_group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="MQTT shared subscription group ($share/<group>/...) so several ingest "
        "processes split the samples; unset = one ingest process",
    )
    client_id: str = Field(
        default="facetrove-ingest",
        min_length=1,
        max_length=64,
        pattern=r"^facetrove-[A-Za-z0-9_.-]+$",
        description="stable MQTT client id: the broker keeps this session's unacknowledged "
        "samples while ingest is down; give each ingest process its own. It starts with "
        "'facetrove-', a prefix no device login may use, so no device can take it over",
    )
    receipts: bool = Field(
        default=True,
        description="after each commit, publish to every device a receipt of the samples now "
        "stored (facetrove/v1/<device>/receipt): agents delete a sample only on it",
    )
    receipt_ms: float = Field(
        default=100.0,
        ge=0,
        le=10_000,
        description="collect the receipts of the batches committed within this many ms into "
        "one receipt per device (fewer messages; the agent waits receipts.timeout_s)",
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive, seconds")
    backoff_max_s: float = Field(
        default=30.0, gt=0, description="longest pause between retries when the disk is full"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="`collector ingest` on its own: serve this process's figures (commits, "
        "receipts, queue) at http://<metrics_host>:<port>/metrics, same access rule as the web "
        "app's (web.metrics_token); unset = off. `serve` has them in the web app's /metrics",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address ingest's metrics port listens on; 127.0.0.1 = this machine only",
    )

    @property
    def image_limits(self) -> ImageLimits:
        """The image caps as wire's ``ImageLimits``."""
        return ImageLimits(
            crop_max_side=self.crop_max_side,
            crop_max_pixels=self.crop_max_pixels,
            frame_max_side=self.frame_max_side,
            frame_max_pixels=self.frame_max_pixels,
        )
