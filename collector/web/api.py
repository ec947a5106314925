"""The JSON API: everything the pages do, for scripts (bearer token) and the page scripts.

Documented in ``openapi.yaml`` (served at /api/openapi.yaml); a test keeps the two in step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, url_for
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from facetrove.collector.export.registry import EXPORTERS
from facetrove.collector.store import classes as class_store
from facetrove.collector.store import reviews
from facetrove.collector.store import versions as version_rows
from facetrove.collector.versions.build import VersionConflict, VersionError
from facetrove.collector.versions.recipe import RecipeError
from facetrove.collector.web import dashboard, devices, upload, versions
from facetrove.collector.web.auth import admin_required
from facetrove.collector.web.db import get_db
from facetrove.collector.web.review import (
    card,
    filter_from_args,
    lease_for_current_user,
    sample_detail,
    web,
)

bp = Blueprint("api", __name__, url_prefix="/api")
OPENAPI = Path(__file__).with_name("openapi.yaml")
MAX_BATCH = 500


class ApiError(Exception):
    """A client error answered as ``{"error": message}`` with a 4xx status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Any:
    return jsonify(error=str(exc)), exc.status


@bp.errorhandler(reviews.ReviewError)
def _review_error(exc: reviews.ReviewError) -> Any:
    return jsonify(error=str(exc)), 404 if isinstance(exc, reviews.UnknownSample) else 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    return jsonify(error=exc.description), exc.code


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("send a JSON object with Content-Type: application/json")
    return body


@bp.get("/openapi.yaml")
def openapi() -> Any:
    """The OpenAPI description of this API."""
    return Response(OPENAPI.read_text(), mimetype="application/yaml")


@bp.get("/me")
def me() -> Any:
    """Who is calling."""
    return jsonify(id=current_user.id, username=current_user.username, role=current_user.role)


@bp.get("/samples")
def samples() -> Any:
    """The caller's next queue page under the filters (the samples are leased to the caller)."""
    page = lease_for_current_user(filter_from_args(request.args))
    aliases = class_store.class_aliases(get_db())
    return jsonify(
        samples=[card(s, aliases) for s in page.samples],
        lease_until=page.lease_until,
        classes=class_store.class_names(get_db()),
    )


@bp.get("/samples/<sample_id>")
def sample(sample_id: str) -> Any:
    """One sample with probabilities, frame box, track and history."""
    info = sample_detail(sample_id)
    info.pop("sample")
    return jsonify(info)


@bp.post("/decisions")
def decisions() -> Any:
    """Record a batch of decisions: ``{"decisions": [{sample_id, action, label?}, ...]}``."""
    items = _json_body().get("decisions")
    if not isinstance(items, list) or not items:
        raise ApiError("'decisions' must be a non-empty list")
    if len(items) > MAX_BATCH:
        raise ApiError(f"at most {MAX_BATCH} decisions per call")
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("sample_id"), str):
            raise ApiError(f"decisions[{i}] needs a string sample_id")
        label = item.get("label")
        if label is not None and not isinstance(label, str):
            raise ApiError(f"decisions[{i}].label must be a string")
        parsed.append(
            reviews.DecisionIn(item["sample_id"], str(item.get("action", "label")), label)
        )
    states = reviews.decide(get_db(), current_user.id, parsed, web().consensus_k)
    dashboard.clear_cache()
    return jsonify(saved=len(parsed), states=states)


@bp.post("/undo")
def undo() -> Any:
    """Take back the caller's last batch of decisions."""
    cfg = web()
    ids = reviews.undo_last(get_db(), current_user.id, cfg.consensus_k, cfg.lease_seconds)
    dashboard.clear_cache()
    return jsonify(undone=ids)


@bp.get("/dashboard")
def dashboard_json() -> Any:
    """Dataset health figures (the dashboard's data)."""
    return jsonify(dashboard.health_figures())


@bp.get("/classes")
def classes() -> Any:
    """The project's classes in order."""
    db = get_db()
    return jsonify(classes=class_store.class_names(db), aliases=class_store.class_aliases(db))


@bp.post("/classes")
@admin_required
def add_class() -> Any:
    """Add a class: ``{"name": ...}``."""
    name = class_store.add_class(get_db(), str(_json_body().get("name", "")), current_user.id)
    return jsonify(name=name, classes=class_store.class_names(get_db())), 201


@bp.put("/classes")
@admin_required
def reorder_classes() -> Any:
    """Put the classes in order: ``{"order": [every class once]}``."""
    order = _json_body().get("order")
    if not isinstance(order, list) or not all(isinstance(c, str) for c in order):
        raise ApiError("'order' must be a list of class names")
    return jsonify(classes=class_store.reorder_classes(get_db(), order, current_user.id))


@bp.put("/classes/<name>")
@admin_required
def rename_class(name: str) -> Any:
    """Rename a class: ``{"name": new}``."""
    new = class_store.rename_class(
        get_db(), name, str(_json_body().get("name", "")), current_user.id
    )
    return jsonify(name=new, classes=class_store.class_names(get_db()))


@bp.get("/devices")
def devices_json() -> Any:
    """Every device with its health and config."""
    return jsonify(devices=devices.device_list())


@bp.put("/devices/<device_id>/config")
@admin_required
def device_config(device_id: str) -> Any:
    """Replace a device's run-time config (revision is set by the server) and publish it."""
    try:
        result = devices.update_config(device_id, _json_body(), current_user.id)
    except devices.DeviceError as exc:
        raise ApiError(str(exc), exc.status) from None
    return jsonify(result)


@bp.get("/uploads")
def uploads() -> Any:
    """Upload jobs, newest first, and whether the agent (face detection in photos) is here."""
    return jsonify(jobs=[j.to_json() for j in upload.jobs().all()], agent=upload.agent_status())


@bp.post("/uploads")
def create_upload() -> Any:
    """Upload images or one zip (multipart field ``files``, optional ``as``, ``tag`` and
    ``subject_from``);
    starts an import of them."""
    try:
        job = upload.start_from_files(request.files.getlist("files"), current_user.id, request.form)
    except upload.UploadError as exc:
        raise ApiError(str(exc), exc.status) from None
    return jsonify(job.to_json()), 202


@bp.get("/uploads/<job_id>")
def upload_job(job_id: str) -> Any:
    """One upload job's progress."""
    job = upload.jobs().get(job_id)
    if job is None:
        abort(404, description=f"no upload job {job_id!r}")
    return jsonify(job.to_json())


_VERSION_FIELDS = ("id", "created_at", "created_by", "status", "samples", "error", "recipe_sha256")


def _fields(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: row[name] for name in names}


@bp.get("/versions")
def versions_json() -> Any:
    """Every dataset version, newest first."""
    found = version_rows.list_versions(get_db(), newest_first=True)
    return jsonify(versions=[_fields(v, _VERSION_FIELDS) for v in found])


@bp.post("/versions")
def create_version() -> Any:
    """Check a recipe (``{"recipe": yaml, "name": optional}``) and start building it."""
    body = _json_body()
    text, name = body.get("recipe"), body.get("name")
    if not isinstance(text, str) or not (name is None or isinstance(name, str)):
        raise ApiError('send {"recipe": "<recipe YAML>", "name": "<optional name>"}')
    try:
        prep = versions.start_build(text, name, current_user.id)
    except (RecipeError, VersionError) as exc:
        status = 409 if isinstance(exc, VersionConflict) else 400
        return jsonify(error=str(exc), errors=str(exc).splitlines()), status
    return jsonify(id=prep.id, status="building", samples=len(prep.samples)), 202


@bp.get("/versions/<version_id>")
def version_json(version_id: str) -> Any:
    """One version: status, recipe, card (once ready) and its zip download addresses."""
    row = version_rows.get_version(get_db(), version_id)
    if row is None:
        abort(404, description=f"no version {version_id!r}")
    v = _fields(row, (*_VERSION_FIELDS, "recipe", "card"))
    v["card"] = json.loads(v["card"]) if v["card"] else None
    v["exports"] = {
        fmt: url_for("versions.download", version_id=version_id, fmt=fmt) for fmt in EXPORTERS
    }
    return jsonify(v)
