"""The review web app: a Flask app factory with one blueprint per area.

``create_app(config)`` builds the app for a collector config (data_dir, web section, broker);
``test_config`` overrides Flask settings, e.g. a publisher test double.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from facetrove.collector.config import CollectorConfig
from facetrove.collector.config.web import WebConfig
from facetrove.collector.web.job_registry import TooManyJobs


def _secret_key(config: CollectorConfig, web: WebConfig) -> str:
    """The configured key, else one generated once and kept in the data folder."""
    if web.secret_key:
        return web.secret_key
    path = Path(config.data_dir) / "web-secret-key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


#: Sent on every response. Scripts only from our own files (no inline script anywhere); inline
#: style attributes draw the confidence bars and heat cells, so styles allow them.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _http_error(exc: HTTPException) -> Any:
    """The app's own error page (JSON under /api/) instead of Werkzeug's bare one."""
    code = exc.code or 500
    if request.path.startswith("/api/"):
        return jsonify(error=exc.description), code
    return render_template("error.html", code=code, message=exc.description), code


def _too_many_jobs(exc: TooManyJobs) -> Any:
    """429 with the message and a Retry-After (JSON under /api/, else the error page)."""
    if request.path.startswith("/api/"):
        response = jsonify(error=str(exc), kind=exc.kind, limit=exc.limit)
    else:
        response = Response(render_template("error.html", code=429, message=str(exc)))
    response.status_code = 429
    response.headers["Retry-After"] = "10"
    return response


def web_config(config: CollectorConfig) -> WebConfig:
    """The ``web:`` section of a collector config (defaults if the section is absent)."""
    web = getattr(config, "web", None)
    return web if isinstance(web, WebConfig) else WebConfig()


def create_app(
    config: CollectorConfig | None = None, test_config: dict[str, Any] | None = None
) -> Flask:
    """Build the web app for ``config``; ``test_config`` overrides Flask settings."""
    config = config or CollectorConfig()
    web = web_config(config)
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=_secret_key(config, web),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=web.session_cookie_secure,
        SESSION_COOKIE_NAME="facetrove_session",
        PERMANENT_SESSION_LIFETIME=int(web.session_hours * 3600),
        MAX_CONTENT_LENGTH=web.max_upload_mb * 1024 * 1024,
        # CSRF is checked by our own before_request so that bearer-token calls can skip it.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
        FACETROVE=config,
        FACETROVE_WEB=web,
    )
    if test_config:
        app.config.update(test_config)
    app.jinja_env.autoescape = True

    from facetrove.collector.store.db import ping
    from facetrove.collector.web import db

    db.init_app(app)

    from facetrove.collector.web import auth

    auth.init_app(app)

    from facetrove.collector.web import (
        api,
        dashboard,
        device_files,
        devices,
        metrics,
        models,
        review,
        upload,
        versions,
    )

    app.register_blueprint(review.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(devices.bp)
    app.register_blueprint(upload.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(versions.bp)
    app.register_blueprint(device_files.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(models.bp)
    upload.init_app(app)
    devices.init_app(app)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(TooManyJobs, _too_many_jobs)

    @app.get("/healthz")
    def healthz() -> Any:
        """Liveness and store check for load balancers and `serve` (no login)."""
        ping(db.get_db())
        return jsonify(status="ok")

    return app
