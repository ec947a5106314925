"""Model files for devices: the only place an agent fetches a pre-label model from.

``GET /device/models/<model_id>/model.onnx`` answers a device that authenticates with its own
broker login (HTTP Basic: device id and password, the same as MQTT); a revoked login, a wrong
password or a reviewer's session get 401. A device gets only the model it is assigned (its
canary, else the one rolled out to every device, else the shipped model as ``bundled``): a
candidate, a retired model, another device's canary or an unknown id is 404, like a missing
file, so one device's login does not hand out every model trained on the store's faces. The
files are the trained models under ``data_dir/models/<id>/model.onnx``.
``model_url`` builds the address a ``model`` announcement carries (the agent accepts only its
collector's address, see docs/agent.md).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, request, send_file

from facetrove.collector.config import CollectorConfig
from facetrove.collector.identity.passwords import verify_password
from facetrove.collector.store import device_logins
from facetrove.collector.store import models as registry
from facetrove.collector.train.folder import ONNX_FILE, models_root
from facetrove.collector.web.db import data_dir, get_db

bp = Blueprint("device_files", __name__, url_prefix="/device")


def model_url(config: CollectorConfig, model_id: str) -> str:
    """The URL of a model file for the ``model`` announcement (``web.public_url`` based)."""
    w = config.web
    host = "127.0.0.1" if w.host in ("0.0.0.0", "", "::") else w.host
    base = (w.public_url or f"http://{host}:{w.port}").rstrip("/")
    return f"{base}/device/models/{model_id}/{ONNX_FILE}"


def _device() -> str | None:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or auth.password is None:
        return None
    stored = device_logins.active_hash(get_db(), auth.username)
    if stored is None or not verify_password(auth.password, stored):
        return None
    return auth.username


@bp.route("/models/<model_id>/model.onnx")
def model_file(model_id: str) -> Response:
    """The ONNX file of a trained model, to an authenticated device."""
    device = _device()
    if device is None:
        return Response(
            "device login required\n",
            401,
            {"WWW-Authenticate": 'Basic realm="facetrove devices"'},
            mimetype="text/plain",
        )
    if registry.servable_to(get_db(), device) != model_id:
        abort(404)
    if model_id == registry.BUNDLED:
        from facetrove import models

        return send_file(
            models.path(models.EMOTION_ONNX), mimetype="application/octet-stream", max_age=0
        )
    root = models_root(data_dir()).resolve()
    path = (root / model_id / ONNX_FILE).resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return send_file(Path(path), mimetype="application/octet-stream", max_age=0)
