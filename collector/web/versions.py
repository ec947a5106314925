"""Dataset versions in the web app: list with cards, create from a recipe, download exports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import flask_login
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask import send_file as flask_send_file
from flask_login import current_user

from collector.export.base import ExportError
from collector.export.registry import EXPORTERS, export_version
from collector.versions.build import VersionError, create_version
from collector.versions.recipe import SPLITS, RecipeError
from collector.web.db import data_dir, get_db, rows

bp = Blueprint("versions", __name__, url_prefix="/versions")

F = TypeVar("F", bound=Callable[..., Any])
#: flask_login ships no type hints; this keeps the views typed.
login_required = cast(Callable[[F], F], flask_login.login_required)

DEFAULT_RECIPE = """\
# A version recipe: see docs/versions.md for every key.
seed: 0
split: {train: 0.7, valid: 0.2, test: 0.1, group_by: track}
preprocess:
  resize: {width: 224, height: 224, mode: fit}
augmentations:
  flip: {horizontal: true}
  rotation: {degrees: 10}
  brightness: {percent: 20}
multiplier: 2
"""


def _version(version_id: str) -> dict[str, Any]:
    found = rows("select * from versions where id = ?", [version_id])
    if not found:
        abort(404)
    row = found[0]
    row["card_data"] = json.loads(row["card"]) if row["card"] else None
    return row


@bp.get("/")
@login_required
def index() -> Any:
    """Every version, newest first, with its card summary."""
    versions = rows("select * from versions order by created_at desc, id desc")
    for v in versions:
        v["card_data"] = json.loads(v["card"]) if v["card"] else None
    return render_template("versions/index.html", versions=versions, splits=SPLITS)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    """Edit a recipe and build a version; a bad recipe is shown again with its errors."""
    text = request.form.get("recipe", DEFAULT_RECIPE) if request.method == "POST" else None
    name = (request.form.get("name") or "").strip() or None
    if text is None:
        return render_template("versions/new.html", recipe=DEFAULT_RECIPE, name="", errors=[])
    try:
        built = create_version(
            data_dir(), get_db(), text, name=name, created_by=current_user.id, progress=False
        )
    except (RecipeError, VersionError) as exc:
        errors = str(exc).splitlines()
        return (
            render_template("versions/new.html", recipe=text, name=name or "", errors=errors),
            400,
        )
    flash(f"Version {built.id} built: {built.samples} samples, {built.images} images.", "ok")
    return redirect(url_for("versions.show", version_id=built.id))


@bp.get("/<version_id>")
@login_required
def show(version_id: str) -> Any:
    """A version's card and its export links."""
    version = _version(version_id)
    return render_template(
        "versions/show.html", v=version, card=version["card_data"], splits=SPLITS,
        exporters=EXPORTERS,
    )  # fmt: skip


@bp.get("/<version_id>/export/<fmt>.zip")
@login_required
def download(version_id: str, fmt: str) -> Any:
    """The version exported in ``fmt`` as a zip (made once, then served from exports/)."""
    version = _version(version_id)
    if fmt not in EXPORTERS:
        abort(404)
    if version["status"] != "ready":
        flash(f"Version {version_id} is {version['status']}; nothing to export.", "error")
        return redirect(url_for("versions.show", version_id=version_id))
    target = data_dir() / "exports" / f"{version_id}-{fmt}.zip"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            export_version(Path(version["path"]), fmt, target, as_zip=True)
        except ExportError as exc:
            current_app.logger.info("export %s %s refused: %s", version_id, fmt, exc)
            flash(str(exc), "error")
            return redirect(url_for("versions.show", version_id=version_id))
    return flask_send_file(
        target.resolve(), mimetype="application/zip", as_attachment=True,
        download_name=f"facetrove-{version_id}-{fmt}.zip",
    )  # fmt: skip
