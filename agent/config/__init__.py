"""The agent's configuration: a tree of pydantic models, one file per group of YAML sections.

Capture sections (source, detector, quality, sampler, crop, prelabel) live in
``agent/config/capture.py``; delivery sections (broker, outbox, run, metrics) in
``agent/config/delivery.py``.
``agent/config/loader.py`` loads it with the shared loader (``facetrove/config.py``).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from facetrove.agent.config.capture import (
    CropConfig,
    DetectorConfig,
    PrelabelConfig,
    QualityConfig,
    SamplerConfig,
    SourceConfig,
)
from facetrove.agent.config.delivery import (
    BrokerConfig,
    MetricsConfig,
    ModelUpdateConfig,
    OutboxConfig,
    ReceiptConfig,
    RunConfig,
    TlsConfig,
)
from facetrove.config import Section
from facetrove.wire import check_device_id


class AgentConfig(Section):
    """The whole agent configuration (the root of the YAML file)."""

    device_id: str = Field(
        description="this device's id in MQTT topics and samples: 1-64 letters, digits, '.', "
        "'_' or '-' (required)"
    )
    source: SourceConfig = Field(default_factory=SourceConfig, description="frame source")
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="face detector")
    quality: QualityConfig = Field(default_factory=QualityConfig, description="quality gate")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig, description="sampling policy")
    crop: CropConfig = Field(default_factory=CropConfig, description="crop and JPEG")
    prelabel: PrelabelConfig = Field(
        default_factory=PrelabelConfig, description="emotion pre-label model"
    )
    broker: BrokerConfig = Field(default_factory=BrokerConfig, description="MQTT broker")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="durable outbox")
    receipts: ReceiptConfig = Field(
        default_factory=ReceiptConfig, description="the collector's receipts, re-sends"
    )
    model_updates: ModelUpdateConfig = Field(
        default_factory=ModelUpdateConfig, description="models announced by the collector"
    )
    run: RunConfig = Field(default_factory=RunConfig, description="run loop, stats, shutdown")
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="optional Prometheus /metrics (off by default)"
    )

    @field_validator("device_id")
    @classmethod
    def _device_id_ok(cls, value: str) -> str:
        return check_device_id(value)

    @property
    def client_id(self) -> str:
        """The MQTT client id: stable per device so the broker keeps its session."""
        return self.broker.client_id or f"facetrove-agent-{self.device_id}"


__all__ = [
    "AgentConfig",
    "BrokerConfig",
    "CropConfig",
    "DetectorConfig",
    "MetricsConfig",
    "ModelUpdateConfig",
    "OutboxConfig",
    "PrelabelConfig",
    "QualityConfig",
    "ReceiptConfig",
    "RunConfig",
    "SamplerConfig",
    "SourceConfig",
    "TlsConfig",
]
