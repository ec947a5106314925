"""Config sections of the delivery half of the agent: outbox, broker, stats and the run loop.

Every field has a description; docs/agent.md lists them with their defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from facetrove.config import Section

_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}


class TlsConfig(Section):
    """TLS towards the broker (used when `enabled` is true or the URL scheme is mqtts://)."""

    enabled: bool | None = Field(
        default=None, description="force TLS on or off; unset = on for mqtts:// URLs only"
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the broker's certificate; "
        "unset = the system's trusted CAs",
    )
    cert_file: Path | None = Field(
        default=None, description="PEM client certificate, for brokers that require one"
    )
    key_file: Path | None = Field(
        default=None, description="PEM private key of the client certificate"
    )
    insecure: bool = Field(
        default=False,
        description="skip the broker certificate and host name check (testing only)",
    )

    @model_validator(mode="after")
    def _cert_and_key(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class BrokerConfig(Section):
    """The MQTT broker samples go to."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="mqtt://[user:pass@]host[:port] or mqtts://... (TLS, default port 8883)",
    )
    username: str | None = Field(
        default=None, description="MQTT username (overrides one in the URL)"
    )
    password: SecretStr | None = Field(
        default=None, description="MQTT password; use ${ENV} to keep it out of the file"
    )
    protocol: Literal["3.1.1", "5"] = Field(default="3.1.1", description="MQTT protocol version")
    client_id: str | None = Field(
        default=None,
        description="MQTT client id; default facetrove-agent-<device_id> (stable, so the "
        "broker keeps the session across restarts)",
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive, seconds")
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="MQTT 5: how long the broker keeps the session while the agent is away",
    )
    max_inflight: int = Field(
        default=20, ge=1, le=1000, description="samples published but not yet acknowledged"
    )
    reconnect_min_s: int = Field(default=1, ge=1, description="first reconnect wait, seconds")
    reconnect_max_s: int = Field(
        default=30, ge=1, description="reconnect waits double up to this, seconds"
    )
    connect_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="finite sources (files, folders): give up after this long without a "
        "broker connection once capture is done; the samples stay in the outbox",
    )
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings")

    @field_validator("url")
    @classmethod
    def _url_ok(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in _SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(_SCHEMES)}, e.g. mqtt://host:1883")
        if not parts.hostname:
            raise ValueError("the URL names no host, e.g. mqtt://host:1883")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return value

    @model_validator(mode="after")
    def _backoff(self) -> BrokerConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    @property
    def use_tls(self) -> bool:
        """Whether to connect with TLS."""
        if self.tls.enabled is not None:
            return self.tls.enabled
        return _SCHEMES[urlsplit(self.url).scheme]

    @property
    def host(self) -> str:
        """Host name of the broker."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """TCP port of the broker (1883, or 8883 with TLS, unless the URL names one)."""
        return urlsplit(self.url).port or (8883 if self.use_tls else 1883)

    def credentials(self) -> tuple[str | None, str | None]:
        """(username, password): the fields win over credentials in the URL."""
        parts = urlsplit(self.url)
        user = self.username or (unquote(parts.username) if parts.username else None)
        if self.password is not None:
            pw: str | None = self.password.get_secret_value()
        else:
            pw = unquote(parts.password) if parts.password else None
        return user, pw

    def masked_url(self) -> str:
        """The URL with any password replaced by ***."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The agent's state folder: systemd's ``$STATE_DIRECTORY`` (the service's
    ``StateDirectory=``, /var/lib/facetrove/agent), else ``$XDG_STATE_HOME/facetrove``, else
    ``~/.local/state/facetrove``."""
    env = os.environ if env is None else env
    systemd = env.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "facetrove"
    return Path.home() / ".local" / "state" / "facetrove"


def default_outbox_path() -> Path:
    """``outbox.db`` in the state folder (``state_dir``), not the current directory."""
    return state_dir() / "outbox.db"


class OutboxConfig(Section):
    """The durable queue on disk that holds samples until the collector confirmed them."""

    path: Path = Field(
        default_factory=default_outbox_path,
        description="SQLite file of the outbox (kept across restarts); default: outbox.db in "
        "the state folder: $STATE_DIRECTORY (systemd's StateDirectory=, /var/lib/facetrove/agent "
        "for the service), else $XDG_STATE_HOME/facetrove, else ~/.local/state/facetrove",
    )
    max_rows: int = Field(default=20_000, ge=1, description="most samples kept")
    max_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="most payload bytes kept"
    )
    max_age_s: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="samples older than this are dropped"
    )
    policy: Literal["drop_oldest", "drop_newest"] = Field(
        default="drop_oldest",
        description="when a limit is reached: drop_oldest makes room for the new sample, "
        "drop_newest refuses the new one (counted either way)",
    )
    min_free_mb: float = Field(
        default=64.0,
        ge=0,
        description="free space (MB) to leave on the outbox's disk: below it the least valuable "
        "samples (by selection reason, then age) make room, counted as dropped disk; 0 = off",
    )


class ReceiptConfig(Section):
    """End-to-end confirmation: a sample leaves the outbox on the collector's receipt."""

    enabled: bool = Field(
        default=True,
        description="keep each sample until the collector's receipt says it is stored (a "
        "broker's PUBACK is not durability); false deletes at the PUBACK, for a collector "
        "that sends no receipts",
    )
    timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="publish a sample again when its receipt has not come this long after the "
        "PUBACK (and the collector answered anything since, or the agent reconnected)",
    )
    backoff_max_s: float = Field(
        default=900.0,
        gt=0,
        description="the wait doubles with every attempt up to this; after this long a sample "
        "is sent again even if the collector seems down",
    )
    max_unconfirmed: int = Field(
        default=1000,
        ge=1,
        description="most samples published and waiting for their receipt; when reached, "
        "no new sample is sent until receipts come",
    )

    @model_validator(mode="after")
    def _backoff(self) -> ReceiptConfig:
        if self.backoff_max_s < self.timeout_s:
            raise ValueError("backoff_max_s must be >= timeout_s")
        return self


class ModelUpdateConfig(Section):
    """Pre-label models the collector announces on the retained ``model`` topic."""

    enabled: bool = Field(
        default=True,
        description="fetch announced models (size and sha256 checked) and switch to them "
        "between frames, without a restart",
    )
    dir: Path | None = Field(
        default=None,
        description="where fetched models are kept; default: models/ next to the outbox file",
    )
    fetch_timeout_s: float = Field(default=30.0, gt=0, description="HTTP timeout of a fetch")
    collector_url: str | None = Field(
        default=None,
        description="the collector this device is provisioned for (printed by `collector device "
        "add`), e.g. http://collector.lan:8080; models are fetched only from its "
        "/device/models/ address, logged in as this device (broker username and password)",
    )
    allowed_urls: list[str] | None = Field(
        default=None,
        description="URL prefixes models may be fetched from; default: "
        "[<collector_url>/device/models/]; with neither set, announcements are refused",
    )
    max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="largest model accepted; a bigger announcement is refused before any download",
    )
    keep: int = Field(
        default=2,
        ge=1,
        le=100,
        description="model files kept in dir: the one in use and the most recently used before "
        "it (2: the current and the previous); older ones are deleted, counted and reported "
        "(model_files_deleted in status and stats)",
    )

    @field_validator("collector_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// address, e.g. http://host:8080")
            if parts.username or parts.password:
                raise ValueError("must not carry a login (the broker login is used)")
        return value

    @field_validator("allowed_urls")
    @classmethod
    def _http_prefixes(cls, value: list[str] | None) -> list[str] | None:
        for url in value or []:
            cls._http_url(url)
        return value

    def sources(self) -> list[str]:
        """The URL prefixes models may come from (empty: none)."""
        if self.allowed_urls is not None:
            return list(self.allowed_urls)
        if self.collector_url:
            return [self.collector_url.rstrip("/") + "/device/models/"]
        return []


class RunConfig(Section):
    """How the agent runs and stops."""

    stats_interval_s: float = Field(
        default=30.0, gt=0, description="how often the stats message is published, seconds"
    )
    flush_timeout_s: float = Field(
        default=10.0,
        ge=0,
        description="on SIGINT/SIGTERM: wait this long for the collector to confirm what is "
        "in the outbox before disconnecting (the rest stays in the outbox)",
    )
    drain_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="finite sources: after capture ends, wait at most this long for the outbox "
        "to drain while connected",
    )
    preview: bool = Field(
        default=False, description="show boxes, track ids and pre-labels in a window (needs a GUI)"
    )
    summary_json: bool = Field(
        default=False, description="print one JSON summary line on stdout when the agent exits"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="log level of the agent (logs go to stderr)"
    )


class MetricsConfig(Section):
    """The agent's optional Prometheus endpoint (off unless ``port`` is set)."""

    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve Prometheus metrics at http://<host>:<port>/metrics (e.g. 9464); "
        "unset = off",
    )
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address the metrics port listens on: 127.0.0.1 = this machine only; "
        "0.0.0.0 (or this device's LAN address) for a Prometheus elsewhere, which then needs "
        "the token",
    )
    token: SecretStr | None = Field(
        default=None,
        description="bearer token a scrape must send (use ${credential:metrics-token}); unset "
        "= only clients on this machine (loopback) are answered",
    )
