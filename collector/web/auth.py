"""Logging in and out, who may see what, and CSRF for sessions (bearer tokens skip it)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from facetrove.collector.store import queue, users
from facetrove.collector.web.db import get_db

bp = Blueprint("auth", __name__, url_prefix="/auth")
csrf = CSRFProtect()
login_manager = LoginManager()

#: Endpoints reachable without logging in.
# device_files.model_file checks a device login itself (HTTP Basic), not a reviewer session.
# metrics.metrics checks its own token or a loopback client (collector/web/metrics.py).
PUBLIC_ENDPOINTS = frozenset(
    {"auth.login", "healthz", "static", "device_files.model_file", "metrics.metrics"}
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

F = TypeVar("F", bound=Callable[..., Any])


class WebUser(UserMixin):  # type: ignore[misc]
    """A store account as Flask-Login sees it."""

    def __init__(self, user: users.User) -> None:
        self.user = user
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self.is_admin = user.is_admin

    def get_id(self) -> str:
        return str(self.user.id)

    @property
    def is_active(self) -> bool:
        return self.user.active


@login_manager.user_loader  # type: ignore[untyped-decorator]
def _load_user(user_id: str) -> WebUser | None:
    try:
        user = users.get_user(get_db(), int(user_id))
    except (users.NoSuchUser, ValueError):
        return None
    return WebUser(user) if user.active else None


@login_manager.request_loader  # type: ignore[untyped-decorator]
def _load_bearer(req: Any) -> WebUser | None:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = users.user_by_token(get_db(), header[7:].strip())
    if user is None:
        return None
    g.auth_via_token = True
    return WebUser(user)


def _guard() -> Any:
    """Login on every route but the public ones; CSRF on every unsafe session request."""
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        if request.method in UNSAFE_METHODS:
            csrf.protect()
        return None
    if not current_user.is_authenticated:
        if request.path.startswith("/api/"):
            return jsonify(error="login required (session or 'Authorization: Bearer <token>')"), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.method in UNSAFE_METHODS and not g.get("auth_via_token"):
        csrf.protect()
    return None


def _csrf_error(exc: CSRFError) -> Any:
    if request.path.startswith("/api/"):
        return jsonify(error=f"CSRF check failed: {exc.description}"), 400
    return render_template("error.html", code=400, message=exc.description), 400


def admin_required(view: F) -> F:
    """Refuse (403) a logged-in reviewer who is not an admin."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapped)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if not target:
        return url_for("review.queue")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("review.queue")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; a failed login says so without telling which part was wrong."""
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")
        user = users.authenticate(get_db(), username, request.form.get("password", ""))
        if user is None:
            error = "Wrong username or password."
        else:
            session.clear()
            session.permanent = True
            login_user(WebUser(user))
            users.record_login(get_db(), user)
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("auth/login.html", error=error), status


@bp.post("/logout")
def logout() -> Any:
    """Log out and give back any leased samples."""
    queue.release_leases(get_db(), current_user.id)
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Wire Flask-Login, CSRF and the login guard into the app."""
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    app.before_request(_guard)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_blueprint(bp)
