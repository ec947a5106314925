"""`web:` section: the review web app (address, sessions, review rules)."""

from __future__ import annotations

from pydantic import Field

from facetrove.config import Section


class JobsConfig(Section):
    max_builds: int = Field(default=1, ge=1, le=64, description="version builds at once")
    max_uploads: int = Field(default=2, ge=1, le=64, description="upload imports at once")
    max_exports: int = Field(default=2, ge=1, le=64, description="export zips made at once")
    max_trains: int = Field(default=1, ge=1, le=64, description="trainings at once")
    history: int = Field(default=200, ge=1, description="finished jobs remembered")


class LoginConfig(Section):
    """Failed logins allowed before logins pause (429 with Retry-After), counted in a sliding
    window per account and per client address."""

    max_failures_per_account: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="failed logins for one account in the window before its logins pause "
        "(from any address; `user passwd` or `user enable` unlocks it at once)",
    )
    max_failures_per_address: int = Field(
        default=20,
        ge=1,
        le=100000,
        description="failed logins from one client address in the window, whatever the "
        "account (behind a reverse proxy every client shares the proxy's address)",
    )
    window_minutes: float = Field(
        default=15,
        gt=0,
        le=1440,  # failures older than a day are deleted from the store
        description="the window the failures are counted in, in minutes (at most a day)",
    )


class WebConfig(Section):
    host: str = Field(default="127.0.0.1", description="address the web app listens on")
    port: int = Field(default=8080, ge=0, le=65535, description="HTTP port of the web app")
    public_url: str | None = Field(
        default=None,
        description="address devices reach the web app at (model downloads), printed by "
        "`device add`; unset = http://<host>:<port>",
    )
    secret_key: str | None = Field(
        default=None,
        description="Flask session signing key; unset generates one and keeps it in "
        "<data_dir>/web-secret-key so sessions survive restarts",
    )
    session_cookie_secure: bool = Field(
        default=False,
        description="send the session cookie over HTTPS only (turn on behind a TLS proxy)",
    )
    session_hours: float = Field(
        default=12.0, gt=0, description="how long a login lasts without activity, in hours"
    )
    consensus_k: int = Field(
        default=1,
        ge=1,
        le=9,
        description="agreeing reviewers needed before a sample is confirmed or rejected",
    )
    lease_seconds: int = Field(
        default=600,
        ge=10,
        description="how long a reviewer holds the samples of a queue page before others get them",
    )
    page_size: int = Field(default=24, ge=1, le=200, description="crops per review page")
    imbalance_ratio: float = Field(
        default=3.0,
        gt=1,
        description="dashboard warns when the largest confirmed class exceeds the smallest "
        "by this factor",
    )
    metrics_token: str | None = Field(
        default=None,
        description="bearer token a Prometheus scrape of /metrics must send; unset = /metrics "
        "answers clients on this machine (loopback) only",
    )
    threads: int = Field(default=4, ge=1, le=64, description="waitress worker threads")
    max_upload_mb: int = Field(
        default=512, ge=1, description="largest upload request (all files together), in MB"
    )
    agent_command: list[str] | None = Field(
        default=None,
        description="command that runs the agent for photos in uploads, e.g. "
        "['/opt/venv/bin/facetrove', "
        "'agent']; unset uses the facetrove command next to this Python",
    )
    upload_broker_url: str | None = Field(
        default=None,
        description="no longer used: uploads are imported straight into the store (kept so "
        "that older config files still load)",
    )
    login: LoginConfig = Field(
        default_factory=LoginConfig,
        description="login throttle: failed logins allowed per account and per address in a "
        "window before logins pause with 429",
    )
    jobs: JobsConfig = Field(
        default_factory=JobsConfig,
        description="background jobs: how many of each kind run at once (more are refused with "
        "429 'try again'), how many finished ones the pages remember",
    )
