"""Upload and import: images, zips or a server folder of class folders, run through the agent."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from facetrove.collector.config import CollectorConfig
from facetrove.collector.web.auth import admin_required
from facetrove.collector.web.db import data_dir
from facetrove.collector.web.jobs import JobRegistry, UploadJob, agent_command, new_job_id

bp = Blueprint("upload", __name__, url_prefix="/upload")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILES = 20000
INSTALL_HINT = "pip install 'facetrove[agent]'"


class UploadError(ValueError):
    """An upload that cannot be accepted (message for the user)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def jobs() -> JobRegistry:
    """The app's upload job registry."""
    return current_app.extensions["facetrove.jobs"]  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=8)
def _probe_agent(argv: tuple[str, ...]) -> str | None:
    """None if ``<agent command> --help`` works, else why not."""
    if importlib.util.find_spec("mediapipe") is None:
        return "the agent extra is not installed (no mediapipe)"
    try:
        proc = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {' '.join(argv)}: {exc}"
    if proc.returncode != 0 or "run" not in proc.stdout:
        return f"'{' '.join(argv)} --help' failed: {(proc.stderr or proc.stdout).strip()[-200:]}"
    return None


def agent_status() -> dict[str, Any]:
    """Whether uploads can run here, and how to fix it if not."""
    argv = tuple(agent_command(current_app.config["FACETROVE_WEB"].agent_command))
    problem = _probe_agent(argv)
    return {
        "installed": problem is None,
        "command": list(argv),
        "problem": problem,
        "install": None if problem is None else INSTALL_HINT,
    }


def broker_url_for_agents(config: CollectorConfig) -> str:
    """The broker URL, with agent credentials, that an upload run publishes to."""
    web = current_app.config["FACETROVE_WEB"]
    if web.upload_broker_url:
        return str(web.upload_broker_url)
    if config.broker.url:
        return config.broker.url
    user = getattr(config.broker, "agent_username", "agent")
    password = _agent_password(Path(config.data_dir), user)
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else ""
    return f"mqtt://{auth}{config.broker.embedded_host}:{config.broker.embedded_port}"


def _agent_password(root: Path, user: str) -> str | None:
    path = root / "broker" / "credentials.json"
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    for key in (user, "agent_password", "agent"):
        value = data.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("password"), str):
            return str(value["password"])
    return None


def _safe_parts(name: str) -> list[str] | None:
    """Path parts of an uploaded or zipped name, or None if it is not a plain relative image."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or any(p in ("..", "") for p in path.parts):
        return None
    if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
        return None
    if any(p.startswith("__MACOSX") for p in path.parts):
        return None
    parts = [secure_filename(p) for p in path.parts]
    return parts if all(parts) else None


def _save_files(files: list[FileStorage], dest: Path) -> tuple[int, list[str]]:
    """Write images under ``dest`` (zips unpacked, keeping class folders); returns count, skips."""
    count, skipped = 0, []
    for storage in files:
        name = storage.filename or ""
        if name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(storage.stream) as zf:
                    for info in zf.infolist():
                        parts = None if info.is_dir() else _safe_parts(info.filename)
                        if parts is None or info.file_size > MAX_FILE_BYTES:
                            if not info.is_dir():
                                skipped.append(info.filename[:120])
                            continue
                        target = dest.joinpath(*parts)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(zf.read(info))
                        count += 1
            except zipfile.BadZipFile:
                raise UploadError(f"{name} is not a readable zip file") from None
            continue
        parts = _safe_parts(name.split("/")[-1] if "/" not in name else name)
        if parts is None:
            skipped.append(name[:120])
            continue
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        storage.save(target)
        count += 1
        if count > MAX_FILES:
            raise UploadError(f"at most {MAX_FILES} images per upload")
    return count, skipped


def _launch(kind: str, folder: Path, files: int, user_id: int, job_id: str) -> UploadJob:
    config: CollectorConfig = current_app.config["FACETROVE"]
    status = agent_status()
    if not status["installed"]:
        raise UploadError(f"{status['problem']}; install it with: {INSTALL_HINT}", 503)
    device_id = f"upload-{job_id}"
    job = UploadJob(job_id, user_id, kind, folder, files, device_id)
    argv = [
        *status["command"],
        "run",
        "--source", str(folder),
        "--broker", broker_url_for_agents(config),
        "--device-id", device_id,
        "--outbox", str(folder.parent / "outbox.db"),
        "--exit-when-drained",
        "--summary-json",
    ]  # fmt: skip
    jobs().start(job, argv)
    return job


def start_from_files(files: list[FileStorage], user_id: int) -> UploadJob:
    """Save uploaded images/zips under data_dir/uploads/<id>/files and start the agent on them."""
    if not files:
        raise UploadError("no files in the upload (multipart field 'files')")
    job_id = new_job_id()
    folder = data_dir() / "uploads" / job_id / "files"
    folder.mkdir(parents=True, exist_ok=True)
    count, skipped = _save_files(files, folder)
    if count == 0:
        raise UploadError(
            "no images found (accepted: "
            + ", ".join(sorted(IMAGE_SUFFIXES))
            + ", .zip)"
            + (f"; skipped {', '.join(skipped[:5])}" if skipped else "")
        )
    return _launch("files", folder, count, user_id, job_id)


def start_from_folder(path: str, user_id: int) -> UploadJob:
    """Import a server-side folder (class folders give the provided label) in place."""
    folder = Path(path).expanduser()
    if not folder.is_absolute() or not folder.is_dir():
        raise UploadError(f"{path!r} is not an absolute path of a folder on the server")
    count = sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if count == 0:
        raise UploadError(f"no images under {folder}")
    job_id = new_job_id()
    (data_dir() / "uploads" / job_id).mkdir(parents=True, exist_ok=True)
    # The agent reads the folder where it is; the job folder only holds its outbox and id log.
    job = _launch("folder", folder, count, user_id, job_id)
    return job


@bp.get("/")
def index() -> Any:
    """Drag-and-drop upload, folder import (admins) and the job list."""
    return render_template(
        "upload/index.html", agent=agent_status(), jobs=[j.to_json() for j in jobs().all()]
    )


@bp.post("/folder")
@admin_required
def import_folder() -> Any:
    """Start an import of a server folder of class folders."""
    try:
        job = start_from_folder(request.form.get("path", "").strip(), current_user.id)
    except UploadError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Import {job.id} started on {job.files} images.", "ok")
    return redirect(url_for("upload.index"))


def init_app(app: Flask) -> None:
    """Give the app its job registry."""
    app.extensions.setdefault("facetrove.jobs", JobRegistry())
