"""Devices: health from their stats, and their run-time config published as a retained message."""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from pydantic import ValidationError

from facetrove import wire
from facetrove.collector.store import devices as device_store
from facetrove.collector.store.classes import class_names
from facetrove.collector.web.auth import admin_required
from facetrove.collector.web.db import get_db
from facetrove.collector.web.publish import MqttPublisher, Publisher, PublishError

bp = Blueprint("devices", __name__, url_prefix="/devices")
SAMPLING_FIELDS = {
    "max_per_track": int,
    "track_window_s": float,
    "per_minute": int,
    "per_hour": int,
    "per_day": int,
    "traffic_percent": float,
}
QUALITY_FIELDS = {
    "min_blur": float,
    "min_brightness": float,
    "max_brightness": float,
    "min_face_px": int,
    "max_abs_yaw": float,
}


class DeviceError(ValueError):
    """A device config change that cannot be made (message for the user)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def publisher() -> Publisher:
    """The app's publisher (a paho client unless the app was given another)."""
    return current_app.extensions["facetrove.publisher"]  # type: ignore[no-any-return]


def _device(row: dict[str, Any]) -> dict[str, Any]:
    stats = json.loads(row["stats"]) if row.get("stats") else {}
    config = json.loads(row["config"]) if row.get("config") else None
    return {
        "id": row["id"],
        "state": row.get("state") or "unknown",
        "first_seen": row.get("first_seen"),
        "last_seen": row.get("last_seen"),
        "software": row.get("software"),
        "model_id": stats.get("model_id") or row.get("model_id"),
        "detector": row.get("detector"),
        "source": row.get("source"),
        "samples": row.get("samples") or 0,
        "fps": stats.get("fps"),
        "outbox_depth": stats.get("outbox_depth"),
        "outbox_dropped": stats.get("outbox_dropped"),
        "drops": stats.get("drops") or {},
        "paused": bool(config and config.get("paused")) or bool(stats.get("paused")),
        "stats_at": stats.get("at"),
        "config": config,
        "config_revision": row.get("config_revision") or 0,
        "applied_revision": stats.get("config_revision"),
        "model_error": row.get("model_error"),
        "model_files_deleted": stats.get("model_files_deleted"),
    }


def device_list() -> list[dict[str, Any]]:
    """Every device, online first then by id."""
    return [_device(r) for r in device_store.devices_online_first(get_db())]


def _number(name: str, value: Any, kind: type) -> Any:
    if value in (None, ""):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise DeviceError(f"{name} must be a number") from None


def build_config(previous: dict[str, Any] | None, body: dict[str, Any]) -> wire.AgentConfig:
    """A new ``AgentConfig`` from a request body, with the revision after ``previous``'s."""
    sampling_in = body.get("sampling") or {}
    quality_in = body.get("quality") or {}
    targets_in = body.get("class_targets") or {}
    if not all(isinstance(x, dict) for x in (sampling_in, quality_in, targets_in)):
        raise DeviceError("sampling, quality and class_targets must be objects")
    sampling: dict[str, Any] = {
        k: _number(k, sampling_in.get(k), t) for k, t in SAMPLING_FIELDS.items()
    }
    if sampling_in.get("prefer_uncertain") is not None:
        sampling["prefer_uncertain"] = bool(sampling_in["prefer_uncertain"])
    quality = {k: _number(k, quality_in.get(k), t) for k, t in QUALITY_FIELDS.items()}
    targets = {}
    for name, value in targets_in.items():
        number = _number(f"class target {name}", value, float)
        if number is not None and number != 1.0:
            targets[str(name)] = number
    revision = int((previous or {}).get("revision", 0)) + 1
    try:
        return wire.AgentConfig.model_validate(
            {
                "revision": revision,
                "paused": bool(body.get("paused", False)),
                "sampling": {k: v for k, v in sampling.items() if v is not None},
                "quality": {k: v for k, v in quality.items() if v is not None},
                "class_targets": targets,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:4]
        )
        raise DeviceError(f"invalid config: {problems}") from None


def update_config(device_id: str, body: dict[str, Any], user_id: int) -> dict[str, Any]:
    """Save a device's new config, audit it and publish it retained; returns the outcome.

    The config is committed before publishing, so a broker outage loses nothing: the answer
    says ``published: false`` and saving again re-publishes it.
    """
    db = get_db()
    try:
        saved = device_store.device_config(db, device_id)
    except device_store.NoSuchDevice as exc:
        raise DeviceError(str(exc), 404) from None
    previous = json.loads(saved) if saved else None
    config = build_config(previous, body)
    payload = config.model_dump_json()
    device_store.save_config(db, device_id, payload, config.revision, user_id)
    kind = wire.Kind.CONFIG
    try:
        publisher().publish(
            wire.topic(device_id, kind), payload.encode(), qos=kind.qos, retain=kind.retain
        )
    except (PublishError, ValueError) as exc:
        return {"config": json.loads(payload), "published": False, "error": str(exc)}
    return {"config": json.loads(payload), "published": True}


@bp.get("/")
def index() -> Any:
    """All devices with their health."""
    return render_template("devices/index.html", devices=device_list())


@bp.route("/<device_id>", methods=["GET", "POST"])
def edit(device_id: str) -> Any:
    """A device's health and config form (saving needs the admin role)."""
    db = get_db()
    row = device_store.get_device(db, device_id)
    if row is None:
        abort(404)
    if request.method == "POST":
        if not current_user.is_admin:
            abort(403)
        form = request.form
        body = {
            "paused": form.get("paused") == "on",
            "sampling": {k: form.get(k) for k in SAMPLING_FIELDS}
            | {"prefer_uncertain": form.get("prefer_uncertain") == "on"},
            "quality": {k: form.get(k) for k in QUALITY_FIELDS},
            "class_targets": {c: form.get(f"target_{c}") for c in class_names(db)},
        }
        try:
            result = update_config(device_id, body, current_user.id)
        except DeviceError as exc:
            flash(str(exc), "error")
        else:
            rev = result["config"]["revision"]
            if result["published"]:
                flash(f"Saved and published config revision {rev}.", "ok")
            else:
                flash(f"Saved revision {rev}, but not published: {result['error']}", "error")
        return redirect(url_for("devices.edit", device_id=device_id))
    return render_template(
        "devices/edit.html",
        d=_device(row),
        classes=class_names(db),
        sampling_fields=SAMPLING_FIELDS,
        quality_fields=QUALITY_FIELDS,
    )


@bp.post("/<device_id>/pause")
@admin_required
def pause(device_id: str) -> Any:
    """Pause or resume a device, keeping the rest of its config."""
    try:
        saved = device_store.device_config(get_db(), device_id)
    except device_store.NoSuchDevice:
        abort(404)
    body = json.loads(saved) if saved else {}
    body["paused"] = request.form.get("paused") == "1"
    result = update_config(device_id, body, current_user.id)
    state = "paused" if body["paused"] else "resumed"
    if result["published"]:
        flash(f"{device_id} {state} (revision {result['config']['revision']}).", "ok")
    else:
        flash(f"{device_id} {state} in the store, not published: {result['error']}", "error")
    return redirect(url_for("devices.index"))


def init_app(app: Flask) -> None:
    """Install the paho publisher unless the app was given one (tests, embedding)."""
    if "facetrove.publisher" not in app.extensions:
        app.extensions["facetrove.publisher"] = app.config.get(
            "FACETROVE_PUBLISHER"
        ) or MqttPublisher(app.config["FACETROVE"])
