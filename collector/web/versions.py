"""Dataset versions in the web app: list with cards, create from a recipe, download exports."""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import flask_login
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask import send_file as flask_send_file
from flask_login import current_user

from facetrove.collector.export.base import ExportError
from facetrove.collector.export.registry import EXPORTERS, export_version
from facetrove.collector.store import versions as version_rows
from facetrove.collector.store.db import DB_NAME, connect
from facetrove.collector.versions.build import (
    PreparedVersion,
    VersionConflict,
    VersionError,
    build_prepared,
    prepare_version,
)
from facetrove.collector.versions.recipe import SPLITS, RecipeError
from facetrove.collector.web.db import data_dir, get_db
from facetrove.collector.web.job_registry import TooManyJobs, registry

log = logging.getLogger(__name__)

bp = Blueprint("versions", __name__, url_prefix="/versions")

F = TypeVar("F", bound=Callable[..., Any])
#: flask_login ships no type hints; this keeps the views typed.
login_required = cast(Callable[[F], F], flask_login.login_required)

DEFAULT_RECIPE = """\
# A version recipe: see docs/versions.md for every key.
seed: 0
# group_by: track | device | subject (each person in one split) | none
split: {train: 0.7, valid: 0.2, test: 0.1, group_by: track}
preprocess:
  resize: {width: 224, height: 224, mode: fit}
augmentations:
  flip: {horizontal: true}
  rotation: {degrees: 10}
  brightness: {percent: 20}
multiplier: 2
"""


_EXPORT_LOCKS: dict[Path, threading.Lock] = {}
_EXPORT_LOCKS_GUARD = threading.Lock()


def _export_lock(target: Path) -> threading.Lock:
    """The lock that makes one zip at a time for ``target`` in this process."""
    with _EXPORT_LOCKS_GUARD:
        return _EXPORT_LOCKS.setdefault(target, threading.Lock())


def start_build(text: str, name: str | None, user_id: int) -> PreparedVersion:
    """Check ``text``, record the version as building and write its images in the background
    (a ``builds`` job, so the request returns at once). TooManyJobs before anything is
    recorded when ``web.jobs.max_builds`` builds are running; RecipeError/VersionError as before."""
    jobs = registry()
    job = jobs.reserve("builds", label=f"version {name or ''}".strip())
    try:
        prep = prepare_version(data_dir(), get_db(), text, name=name, created_by=user_id)
    except BaseException:
        jobs.cancel(job)
        raise
    job.label = f"version {prep.id}"
    jobs.start(job, functools.partial(_build, data_dir(), prep))
    return prep


def _build(root: Path, prep: PreparedVersion) -> None:
    """Write ``prep``'s images with its own store connection; the row says ready or failed."""
    db = connect(root / DB_NAME, migrate_schema=False)
    try:
        build_prepared(root, db, prep, progress=False)
        log.info("version %s built", prep.id)
    except VersionError:  # already recorded as failed with its error
        raise
    except Exception as exc:  # record it, or the page waits forever
        version_rows.mark_failed(db, prep.id, str(exc))
        raise
    finally:
        db.conn.close()


def _version(version_id: str) -> dict[str, Any]:
    row = version_rows.get_version(get_db(), version_id)
    if row is None:
        abort(404, description=f"no version {version_id!r}")
    row["card_data"] = json.loads(row["card"]) if row["card"] else None
    return row


@bp.get("/")
@login_required
def index() -> Any:
    """Every version, newest first, with its card summary."""
    versions = version_rows.list_versions(get_db(), newest_first=True)
    for v in versions:
        v["card_data"] = json.loads(v["card"]) if v["card"] else None
    return render_template("versions/index.html", versions=versions, splits=SPLITS)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    """Edit a recipe and start building a version; a bad recipe is shown again with its errors.

    The recipe is checked and the version recorded as ``building`` here; the images are written
    in the background and the version's page refreshes itself until it is ready or failed.
    """
    text = request.form.get("recipe", DEFAULT_RECIPE) if request.method == "POST" else None
    name = (request.form.get("name") or "").strip() or None
    if text is None:
        return render_template("versions/new.html", recipe=DEFAULT_RECIPE, name="", errors=[])
    try:
        prep = start_build(text, name, current_user.id)
    except (RecipeError, VersionError, TooManyJobs) as exc:
        errors = str(exc).splitlines()
        status = 429 if isinstance(exc, TooManyJobs) else 400
        return (
            render_template("versions/new.html", recipe=text, name=name or "", errors=errors),
            409 if isinstance(exc, VersionConflict) else status,
        )
    flash(f"Version {prep.id} is building from {len(prep.samples)} samples.", "ok")
    return redirect(url_for("versions.show", version_id=prep.id))


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
    # One lock per zip: simultaneous downloads wait for the one that builds it, then share it.
    with _export_lock(target):
        if not target.exists():
            try:
                with registry().slot("exports", f"{version_id} {fmt}"):  # TooManyJobs -> 429
                    export_version(Path(version["path"]), fmt, target, as_zip=True)
            except ExportError as exc:
                current_app.logger.info("export %s %s refused: %s", version_id, fmt, exc)
                flash(str(exc), "error")
                return redirect(url_for("versions.show", version_id=version_id))
    return flask_send_file(
        target.resolve(), mimetype="application/zip", as_attachment=True,
        download_name=f"facetrove-{version_id}-{fmt}.zip",
    )  # fmt: skip
