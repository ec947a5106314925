"""`broker:` section: which MQTT broker the collector uses, or the embedded one."""

from __future__ import annotations

from pydantic import Field

from collector.config.base import Section


class BrokerConfig(Section):
    url: str | None = Field(
        default=None,
        description="mqtt://user:pass@host:1883 or mqtts://... of an external broker; "
        "unset starts the embedded broker",
    )
    embedded_host: str = Field(default="127.0.0.1", description="embedded broker bind address")
    embedded_port: int = Field(default=1883, ge=0, le=65535, description="embedded broker port")
    username: str = Field(default="collector", description="MQTT username of the collector")
    password: str | None = Field(default=None, description="MQTT password (supports ${ENV})")
