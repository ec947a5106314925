"""The Models pages: the registry, a model's report (with its confusion pictures), two models
side by side, and rollout / rollback (admins, after an "are you sure" step)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from facetrove import wire
from facetrove.collector import rollout as rollouts
from facetrove.collector.store import models as registry
from facetrove.collector.store import stats
from facetrove.collector.store import train_jobs as train_rows
from facetrove.collector.store import versions as version_rows
from facetrove.collector.train import folder
from facetrove.collector.web.db import data_dir, get_db
from facetrove.collector.web.devices import publisher
from facetrove.collector.web.job_registry import TooManyJobs
from facetrove.collector.web.job_registry import registry as job_registry
from facetrove.collector.web.train_jobs import TrainJobs

bp = Blueprint("models", __name__, url_prefix="/models")
_PNG = re.compile(r"^confusion-[A-Za-z0-9._ -]+\.png$")


def _report(model_id: str) -> dict[str, Any]:
    try:
        return folder.load_report(data_dir(), model_id)
    except (folder.ModelFolderError, OSError, ValueError):
        return {}


def _model(model_id: str) -> registry.Model:
    db = get_db()
    rollouts.sync_folders(db, data_dir())
    try:
        return registry.get(db, model_id)
    except registry.UnknownModel:
        abort(404)


def measured_as_baseline(models: list[registry.Model]) -> dict[str, list[dict[str, Any]]]:
    """Figures the trained models' cards hold for the model each was compared with (by sha256,
    else id), newest report first: ``{model id: [{"by", "evaluation", "top1", "macro_f1",
    "n"}]}``. The bundled model has no report of its own; these are its test figures. A card
    that names another file (the shipped model of an older facetrove) is not counted."""
    by_sha = {m.sha256: m.id for m in models}
    ids = set(by_sha.values())
    found: dict[str, list[dict[str, Any]]] = {}
    for info in reversed(folder.list_models(data_dir())):
        compared = info.card.get("compared_with") or {}
        sha = compared.get("sha256")
        target = by_sha.get(sha) if sha else compared.get("id")  # another file: not this one
        if target not in ids or target == info.id:
            continue
        for name, roles in (info.card.get("metrics") or {}).items():
            base = roles.get("baseline") or {}
            if base.get("top1") is not None:
                found.setdefault(target, []).append({"by": info.id, "evaluation": name, **base})
    return found


def _reviewed(hits: dict[str, tuple[int, int]], model: registry.Model) -> dict[str, Any] | None:
    right, n = hits.get(model.sha256, (0, 0))
    return {"accuracy": right / n, "n": n} if n else None


@bp.get("/")
def index() -> Any:
    """Every registered model with its status and the devices it is assigned to."""
    db = get_db()
    rollouts.sync_folders(db, data_dir())
    table = registry.assignments(db)
    models = registry.list_models(db)
    measured = measured_as_baseline(models)
    hits = stats.prelabel_hits_by_file(db)
    rows = [
        {
            "m": m,
            "measured": next(iter(measured.get(m.id, [])), None),
            "reviewed": _reviewed(hits, m),
            "devices": sorted(
                "all" if d == registry.ALL else d for d, mid in table.items() if mid == m.id
            )
            + (
                ["all (by default)"]
                if registry.ALL not in table and m.id == registry.BUNDLED
                else []
            ),
        }
        for m in models
    ]
    jobs()
    return render_template("models/index.html", rows=rows, jobs=train_rows.recent(db))


@bp.get("/<model_id>")
def show(model_id: str) -> Any:
    """A model's report: figures beside the model it was compared with, confusion pictures."""
    model = _model(model_id)
    db = get_db()
    pictures = sorted(
        p.name for p in (folder.models_root(data_dir()) / model_id).glob("confusion-*.png")
    )
    models = registry.list_models(db)
    return render_template(
        "models/show.html",
        m=model,
        report=_report(model_id),
        pictures=pictures,
        devices=rollouts.known_devices(db),
        assigned=sorted(d for d, mid in registry.assignments(db).items() if mid == model_id),
        history=registry.events(db, model_id),
        others=[o.id for o in models if o.id != model_id],
        measured=measured_as_baseline(models).get(model_id, []),
        reviewed=_reviewed(stats.prelabel_hits_by_file(db), model),
    )


@bp.get("/<model_id>/<name>")
def picture(model_id: str, name: str) -> Any:
    """One confusion picture of a model (reviewers' session)."""
    _model(model_id)
    if not _PNG.match(name):
        abort(404)
    path = folder.models_root(data_dir()) / model_id / name
    if not path.is_file():
        abort(404)
    return send_file(Path(path).resolve(), mimetype="image/png", max_age=0)


@bp.get("/compare")
def compare() -> Any:
    """Two models side by side: their metrics on every evaluation either was reported on."""
    a, b = _model(request.args.get("a", "")), _model(request.args.get("b", ""))
    names = sorted(set(a.metrics) | set(b.metrics))
    return render_template("models/compare.html", a=a, b=b, names=names)


def jobs() -> TrainJobs:
    """The app's training jobs; the first call marks those a dead process left interrupted."""
    from flask import current_app

    found = current_app.extensions.get("facetrove.train_jobs")
    if found is None:
        found = TrainJobs(job_registry(), data_dir())
        found.recover(get_db())
        current_app.extensions["facetrove.train_jobs"] = found
    return cast(TrainJobs, found)


@bp.post("/train")
def train() -> Any:
    """Start training on a ready version (admins); the job page follows its progress."""
    if not current_user.is_admin:
        abort(403)
    version_id = request.form.get("version", "")
    name = (request.form.get("name") or "").strip()
    back = redirect(url_for("versions.show", version_id=version_id))
    row = version_rows.get_version(get_db(), version_id)
    if row is None:
        abort(404)
    try:
        epochs = int(request.form.get("epochs") or 15)
        if not 1 <= epochs <= 1000:
            raise ValueError
    except ValueError:
        flash("Epochs must be a whole number from 1 to 1000.", "error")
        return back
    try:
        folder.check_name(name)
        if (folder.models_root(data_dir()) / name).exists():
            raise folder.ModelFolderError(f"model {name!r} already exists: choose another name")
    except folder.ModelFolderError as exc:
        flash(str(exc), "error")
        return back
    if row["status"] != "ready":
        flash(f"Version {version_id} is {row['status']}; only a ready version trains.", "error")
        return back
    try:
        job = jobs().start(get_db(), version_id, name, epochs)
    except TooManyJobs as exc:
        flash(str(exc), "error")
        return back
    return redirect(url_for("models.job", job_id=job.id))


@bp.get("/jobs/<job_id>")
def job(job_id: str) -> Any:
    """A training job's progress (the page refreshes itself while it runs)."""
    jobs()
    found = train_rows.get(get_db(), job_id)
    if found is None:
        abort(404)
    return render_template("models/job.html", job=found)


def _publish(topic: str, payload: bytes) -> None:
    kind = wire.Kind.MODEL
    publisher().publish(topic, payload, qos=kind.qos, retain=kind.retain)


@bp.post("/<model_id>/rollout")
def rollout(model_id: str) -> Any:
    """Roll a model out (or back) to chosen devices or all, once the admin confirmed it."""
    if not current_user.is_admin:
        abort(403)
    model = _model(model_id)
    everyone = request.form.get("target") == "all"
    devices = None if everyone else request.form.getlist("devices")
    action = "rollback" if request.form.get("action") == "rollback" else "rollout"
    if not everyone and not devices:
        flash("Choose devices, or all devices.", "error")
        return redirect(url_for("models.show", model_id=model_id))
    if request.form.get("confirm") != "yes":
        return render_template(
            "models/confirm.html", m=model, devices=devices, everyone=everyone, action=action
        )
    try:
        result = rollouts.rollout(get_db(), _config(), model_id, devices, _publish, action=action)
    except rollouts.RolloutError as exc:
        flash(str(exc), "error")
        return redirect(url_for("models.show", model_id=model_id))
    who = "all devices" if everyone else ", ".join(devices or [])
    if result.failed:
        flash(
            f"{model_id} assigned to {who}, but not announced to {', '.join(result.failed)}"
            f" ({next(iter(result.failed.values()))}); roll out again once the broker is up.",
            "error",
        )
    else:
        flash(f"{action}: {model_id} announced to {who}.", "ok")
    return redirect(url_for("models.show", model_id=model_id))


def _config() -> Any:
    from flask import current_app

    return current_app.config["FACETROVE"]
