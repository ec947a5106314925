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
    current_app,
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

from facetrove.collector.store import queue, sessions, users
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


#: A server-side session ends 30 days after its login, however active (rows do not pile up).
SESSION_MAX_AGE_S = 30 * 86400


@login_manager.user_loader  # type: ignore[untyped-decorator]
def _load_user(user_id: str) -> WebUser | None:
    """The account of a session cookie, only while its server-side session row lives."""
    sid = session.get("sid")
    try:
        if not isinstance(sid, str) or sessions.session_user(get_db(), sid) != int(user_id):
            return None
        user = users.get_user(get_db(), int(user_id))
    except (users.NoSuchUser, ValueError):
        return None
    return WebUser(user) if user.active else None


def _throttle() -> sessions.Throttle:
    """The failed-login limits of the app's config (web.login)."""
    limits = current_app.config["FACETROVE_WEB"].login
    return sessions.Throttle(
        per_account=limits.max_failures_per_account,
        per_address=limits.max_failures_per_address,
        window_s=round(limits.window_minutes * 60),
    )


def _address() -> str:
    return request.remote_addr or "unknown"


def _begin_session(user: users.User) -> None:
    """A fresh cookie bound to a new server-side session for ``user``."""
    session.clear()
    session.permanent = True
    sessions.prune_sessions(get_db(), SESSION_MAX_AGE_S)
    session["sid"] = sessions.start_session(get_db(), user.id, _address())
    login_user(WebUser(user))


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
    status = 200
    if request.method == "POST":
        db = get_db()
        username = request.form.get("username", "")
        try:
            sessions.begin_attempt(db, username, _address(), _throttle())
        except sessions.TooManyFailures as exc:
            page = render_template("auth/login.html", error=str(exc))
            return page, 429, {"Retry-After": str(exc.retry_after)}
        user = users.authenticate(db, username, request.form.get("password", ""))
        if user is None:
            sessions.record_failure(db, username, _address(), "wrong username or password")
            error, status = "Wrong username or password.", 401
        else:
            sessions.clear_failures(db, user.username)
            _begin_session(user)
            users.record_login(db, user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error), status


@bp.post("/logout")
def logout() -> Any:
    """Log out and give back any leased samples."""
    queue.release_leases(get_db(), current_user.id)
    sid = session.get("sid")
    if isinstance(sid, str):
        sessions.end_session(get_db(), sid)
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
def password() -> Any:
    """Change one's own password; every other session of the account ends."""
    error = None
    if request.method == "POST":
        db = get_db()
        name, new = current_user.username, request.form.get("new_password", "")
        try:
            sessions.begin_attempt(db, name, _address(), _throttle())
        except sessions.TooManyFailures as exc:
            return render_template("auth/password.html", error=str(exc)), 429
        if users.authenticate(db, name, request.form.get("password", "")) is None:
            sessions.record_failure(db, name, _address(), "wrong password at password change")
            error = "The current password is wrong."
        else:
            sessions.clear_failures(db, name)
            error = _change_password(name, new, request.form.get("confirm", ""))
            if error is None:
                flash("Password changed; your other sessions are logged out.", "ok")
                return redirect(url_for("review.queue"))
    return render_template("auth/password.html", error=error), 400 if error else 200


def _change_password(name: str, new: str, confirm: str) -> str | None:
    """Set the new password and renew this session; the error to show, else ``None``."""
    if new != confirm:
        return "The two new passwords differ."
    try:
        user = users.set_password(get_db(), name, new, by=current_user.id)
    except users.UserError as exc:
        return str(exc).capitalize() + "."
    _begin_session(user)
    return None


def init_app(app: Flask) -> None:
    """Wire Flask-Login, CSRF and the login guard into the app."""
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    app.before_request(_guard)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_blueprint(bp)
