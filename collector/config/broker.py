"""`broker:` section: which MQTT broker the collector uses, or the embedded one."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from facetrove.config import Section


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
    embedded_in_process: bool = Field(
        default=False,
        description="run the embedded broker in the collector's own process instead of a "
        "child process (slower: it shares the GIL with ingest and the web app)",
    )
    device_url: str | None = Field(
        default=None,
        description="broker address devices connect to, printed by `device add` (e.g. "
        "mqtts://mqtt.example.org:8883 for Mosquitto's device listener); unset = the embedded "
        "broker's address",
    )
    mosquitto_files: Path | None = Field(
        default=None,
        description="folder of Mosquitto's devices.passwd/acl and collector.passwd/acl: when "
        "set, `device add` and `device revoke` rewrite them and run mosquitto_reload",
    )
    mosquitto_reload: list[str] | None = Field(
        default=None,
        description="command that makes Mosquitto re-read its files, e.g. "
        "['systemctl', 'reload', 'mosquitto']",
    )

    @field_validator("url", "device_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_broker_url(value)
        return value


class BrokerAddress(Section):
    """Host, port and credentials taken from a broker URL."""

    host: str = Field(description="broker host name or address")
    port: int = Field(ge=1, le=65535, description="broker TCP port")
    tls: bool = Field(default=False, description="mqtts:// (TLS)")
    username: str | None = Field(default=None, description="username from the URL")
    password: str | None = Field(default=None, description="password from the URL")


def parse_broker_url(url: str) -> BrokerAddress:
    """Split ``mqtt://user:pass@host:port`` (or ``mqtts://``) into its parts.

    Raises:
        ValueError: the URL has another scheme, no host or a bad port.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp"):
        raise ValueError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"broker URL {url!r} has a bad port") from None
    if not parts.hostname:
        raise ValueError(f"broker URL {url!r} has no host")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
