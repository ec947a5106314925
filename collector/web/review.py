"""The review queue (a keyboard-first grid of crops), the sample detail view and the images."""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from facetrove.collector.config.web import WebConfig
from facetrove.collector.store import classes, devices, queue, reviews, samples
from facetrove.collector.store.imports import tag_counts
from facetrove.collector.store.samples import selection_counts
from facetrove.collector.web.auth import admin_required
from facetrove.collector.web.dashboard import clear_cache
from facetrove.collector.web.db import get_blobs, get_db

bp = Blueprint("review", __name__)


def web() -> WebConfig:
    """The web section of the running app's config."""
    cfg: WebConfig = current_app.config["FACETROVE_WEB"]
    return cfg


def _float(name: str, value: str | None) -> float | None:
    if value in (None, ""):
        return None
    try:
        out = float(value)
    except ValueError:
        raise reviews.ReviewError(f"{name} must be a number between 0 and 1") from None
    if not 0.0 <= out <= 1.0:
        raise reviews.ReviewError(f"{name} must be a number between 0 and 1")
    return out


def filter_from_args(args: Any) -> queue.QueueFilter:
    """Queue filters from query parameters. Raises ``ReviewError`` naming a bad one."""
    flt = queue.QueueFilter(
        status=args.get("status") or "pending",
        device=(args.get("device") or "").strip(),
        tag=(args.get("tag") or "").strip(),
        selection=(args.get("selection") or "").strip(),
        prelabel=(args.get("prelabel") or "").strip(),
        min_conf=_float("min_conf", args.get("min_conf")),
        max_conf=_float("max_conf", args.get("max_conf")),
        since=(args.get("since") or "").strip(),
        until=(args.get("until") or "").strip(),
    )
    flt.where()  # validates the status
    return flt


def lease_for_current_user(flt: queue.QueueFilter) -> queue.Page:
    """The current reviewer's page under ``flt`` (leased to them)."""
    cfg = web()
    return queue.lease_page(
        get_db(), current_user.id, flt, cfg.page_size, cfg.lease_seconds, cfg.consensus_k
    )


def card(sample: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """A queue card as JSON: what the page and the API show for a sample."""
    pre = sample.get("prelabel_label")
    pre = aliases.get(pre, pre) if pre else None
    given = sample.get("provided_label")
    given = aliases.get(given, given) if given else None
    return {
        "id": sample["id"],
        "device_id": sample["device_id"],
        "captured_at": sample["captured_at"],
        "track_id": sample["track_id"],
        "prelabel": pre,
        "confidence": sample["prelabel_confidence"],
        "provided_label": sample.get("provided_label"),
        "selection": sample.get("selection"),
        "state": sample["state"],
        "label": sample.get("label"),
        # What the card starts with and Enter stores: a decided label, else the label the
        # source gave (a class folder, an annotation), else the model's pre-label.
        "suggested": sample.get("label") or given or pre,
        "face_px": sample.get("face_px"),
        "crop_url": url_for("review.media", sha256=sample["crop_sha256"]),
        "detail_url": url_for("review.detail", sample_id=sample["id"]),
    }


def sample_detail(sample_id: str) -> dict[str, Any]:
    """Everything the detail view shows about one sample (404 if unknown)."""
    db = get_db()
    try:
        s = samples.get_sample(db, sample_id)
    except samples.SampleNotFound:
        abort(404)
    aliases = classes.class_aliases(db)
    probs = json.loads(s["prelabel_probs"]) if s.get("prelabel_probs") else {}
    probs = {aliases.get(k, k): float(v) for k, v in probs.items()}
    track = queue.track_cards(db, s["device_id"], s["track_id"], sample_id)
    frame = None
    if s.get("frame_sha256") and s.get("frame_image_width"):
        scale = s["frame_image_width"] / s["frame_width"]
        frame = {
            "url": url_for("review.media", sha256=s["frame_sha256"]),
            "width": s["frame_image_width"],
            "height": s["frame_image_height"],
            "box": [
                round(s[k] * scale, 1) for k in ("box_xmin", "box_ymin", "box_xmax", "box_ymax")
            ],
        }
    out = card(s, aliases)
    out.update(
        sample=s,
        source=s.get("source"),
        tag=s.get("tag"),  # an import's --tag (data set, licence), as the page shows it
        subject=s.get("subject"),  # the person, from an import's --subject-from
        probs=dict(sorted(probs.items(), key=lambda kv: -kv[1])),
        frame=frame,
        track=[card(t, aliases) for t in track],
        history=reviews.history(db, sample_id),
    )
    return out


@bp.get("/")
def home() -> Any:
    """The queue is the start page."""
    return redirect(url_for("review.queue"))


def queue_page() -> Any:
    """A leased page of the queue as a keyboard-driven grid."""
    db = get_db()
    try:
        flt = filter_from_args(request.args)
        page = lease_for_current_user(flt)
    except reviews.ReviewError as exc:
        flash(str(exc), "error")
        flt, page = queue.QueueFilter(), queue.Page(samples=[], lease_until="")
    aliases = classes.class_aliases(db)
    return render_template(
        "review/queue.html",
        cards=[card(s, aliases) for s in page.samples],
        classes=classes.class_names(db),
        flt=flt,
        pending=samples.sample_count(db, "pending"),
        devices=devices.device_ids(db),
        tags=[t for t, _ in tag_counts(db)],
        selections=[s for s, _ in selection_counts(db) if s != "(none)"],
        lease_until=page.lease_until,
    )


# Flask endpoint name kept short for templates: url_for('review.queue').
bp.add_url_rule("/review", endpoint="queue", view_func=queue_page)


@bp.get("/review/sample/<sample_id>")
def detail(sample_id: str) -> Any:
    """Full frame with the box, all probabilities, the track and the decision history."""
    info = sample_detail(sample_id)
    return render_template("review/detail.html", s=info, classes=classes.class_names(get_db()))


@bp.post("/review/sample/<sample_id>")
def decide_one(sample_id: str) -> Any:
    """Mouse path: label or reject one sample from its detail view."""
    action = request.form.get("action", "label")
    item = reviews.DecisionIn(sample_id, action, request.form.get("label") or None)
    try:
        reviews.decide(get_db(), current_user.id, [item], web().consensus_k)
        clear_cache()
    except reviews.UnknownSample:
        abort(404)
    except reviews.ReviewError as exc:
        flash(str(exc), "error")
    else:
        flash("Saved: " + (item.label or "rejected") + ".", "ok")
    return redirect(url_for("review.detail", sample_id=sample_id))


@bp.route("/review/classes", methods=["GET", "POST"])
@admin_required
def class_order() -> Any:
    """The class order (number keys follow it), moved one step at a time."""
    db = get_db()
    order = classes.class_names(db)
    if request.method == "POST":
        name, move = request.form.get("name", ""), request.form.get("move", "")
        if name in order and move in ("up", "down"):
            i = order.index(name)
            j = i - 1 if move == "up" else i + 1
            if 0 <= j < len(order):
                order[i], order[j] = order[j], order[i]
                classes.reorder_classes(db, order, current_user.id)
                clear_cache()
        return redirect(url_for("review.class_order"))
    return render_template("review/classes.html", classes=order)


@bp.get("/media/<sha256>.jpg")
def media(sha256: str) -> Any:
    """A crop or frame JPEG by its digest (content-addressed, so cached for long)."""
    try:
        path = get_blobs().path(sha256)
    except ValueError:
        abort(404)
    if not path.exists():
        abort(404)
    resp = send_file(path, mimetype="image/jpeg", max_age=31536000)
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return resp
