"""Upload and import: images, a zip or a server folder, imported by `collector import`.

The page runs the same import as the command (as a subprocess, so a crash or a huge upload
cannot take the web app down): class folders of crops or photos, annotated sets in every export
format, the same duplicate rules and the same summary. Photos that need face detection go on to
the agent's own pipeline from there, when the agent extra is installed.
"""

from __future__ import annotations

import functools
import importlib.util
import shlex
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from facetrove.collector.importer.subjects import SubjectRuleError, parse_subject_rule
from facetrove.collector.web.auth import admin_required
from facetrove.collector.web.db import data_dir
from facetrove.collector.web.job_registry import Job, TooManyJobs, registry
from facetrove.collector.web.jobs import (
    UploadJob,
    UploadJobs,
    agent_command,
    facetrove_command,
    new_job_id,
)

bp = Blueprint("upload", __name__, url_prefix="/upload")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
MAX_FILES = 20000
INSTALL_HINT = "pip install 'facetrove[agent]'"
STATES = ("confirmed", "pending")


class UploadError(ValueError):
    """An upload that cannot be accepted (message for the user)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def jobs() -> UploadJobs:
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
    """Whether photos can have their faces detected here, and how to fix it if not."""
    argv = tuple(agent_command(current_app.config["FACETROVE_WEB"].agent_command))
    problem = _probe_agent(argv)
    return {
        "installed": problem is None,
        "command": list(argv),
        "problem": problem,
        "install": None if problem is None else INSTALL_HINT,
    }


def _safe_name(name: str) -> list[str] | None:
    """Path parts of an uploaded image's name, or None if it is not a plain relative image."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or any(p in ("..", "") for p in path.parts):
        return None
    if path.suffix.lower() not in IMAGE_SUFFIXES or any(p.startswith(".") for p in path.parts):
        return None
    parts = [secure_filename(p) for p in path.parts]
    return parts if all(parts) else None


def _save_images(files: list[FileStorage], dest: Path) -> tuple[int, list[str]]:
    """Write uploaded images under ``dest`` (a browser folder upload keeps its class folders)."""
    count, skipped = 0, []
    for storage in files:
        name = storage.filename or ""
        parts = _safe_name(name)
        if parts is None:
            skipped.append(name[:120])
            continue
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        storage.save(target)
        count += 1
        if count > MAX_FILES:
            raise UploadError(f"at most {MAX_FILES} images per upload; use a zip")
    return count, skipped


@dataclass(frozen=True)
class _Options:
    """The page's import options, checked: ``--as``, ``--tag``, ``--subject-from``."""

    state: str
    tag: str | None
    subject_from: str | None


def _options(form: Any) -> _Options:
    state = (form.get("as") or "confirmed").strip()
    if state not in STATES:
        raise UploadError(f"'as' must be one of {', '.join(STATES)}")
    tag = (form.get("tag") or "").strip() or None
    if tag is not None and (len(tag) > 200 or not tag.isprintable()):
        raise UploadError("the tag must be 1-200 printable characters")
    subject = (form.get("subject_from") or "").strip() or None
    try:  # a bad rule is refused here, not as a failed job
        parse_subject_rule(subject)
    except SubjectRuleError as exc:
        raise UploadError(str(exc)) from None
    return _Options(state, tag, subject)


def start_from_files(files: list[FileStorage], user_id: int, form: Any = None) -> UploadJob:
    """Import uploaded images, or one zip (any format `collector import` reads)."""
    if not files:
        raise UploadError("no files in the upload (multipart field 'files')")
    options = _options(form or {})
    zips = [f for f in files if (f.filename or "").lower().endswith(".zip")]
    if zips and len(files) > 1:
        raise UploadError("upload one zip on its own, or images without a zip")
    slot = registry().reserve("uploads", job_id=new_job_id())  # TooManyJobs before any write
    job_id = slot.id
    work = data_dir() / "uploads" / job_id
    try:
        work.mkdir(parents=True, exist_ok=True)
        if zips:
            target = work / "upload.zip"
            zips[0].save(target)
            if not zipfile.is_zipfile(target):
                raise UploadError(f"{zips[0].filename} is not a readable zip file")
            with zipfile.ZipFile(target) as zf:
                count = sum(1 for i in zf.infolist() if not i.is_dir())
            return _launch("zip", target, count, user_id, slot, options, cleanup=work)
        count, skipped = _save_images(files, work / "files")
        if count == 0:
            raise UploadError(
                "no images found (accepted: "
                + ", ".join(sorted(IMAGE_SUFFIXES))
                + ", .zip)"
                + (f"; skipped {', '.join(skipped[:5])}" if skipped else "")
            )
        return _launch("files", work / "files", count, user_id, slot, options, cleanup=work)
    except BaseException:
        registry().cancel(slot)
        shutil.rmtree(work, ignore_errors=True)
        raise


def start_from_folder(path: str, user_id: int, form: Any = None) -> UploadJob:
    """Import a folder on the server where it is (class folders give the labels)."""
    options = _options(form or {})
    folder = Path(path).expanduser()
    if not folder.is_absolute():
        raise UploadError(f"{path!r} is not an absolute path: give the folder's full path")
    if not folder.exists():
        raise UploadError(f"{path} does not exist on the server")
    if not folder.is_dir():
        raise UploadError(f"{path} is a file, not a folder: upload files with the file picker")
    count = sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if count == 0:
        raise UploadError(f"no images under {folder}")
    slot = registry().reserve("uploads", job_id=new_job_id())
    return _launch("folder", folder, count, user_id, slot, options, cleanup=None)


def _launch(
    kind: str,
    path: Path,
    files: int,
    user_id: int,
    slot: Job,
    options: _Options,
    *,
    cleanup: Path | None,
) -> UploadJob:
    web = current_app.config["FACETROVE_WEB"]
    argv = [
        *facetrove_command(), "collector", "import", str(path), "--data-dir", str(data_dir()),
        "--json", "--as", options.state, "--user-id", str(user_id),
    ]  # fmt: skip
    if web.agent_command:  # else the import finds the agent next to itself, or says it is missing
        argv += ["--agent-command", shlex.join(web.agent_command)]
    if options.tag:
        argv += ["--tag", options.tag]
    if options.subject_from:
        argv += ["--subject-from", options.subject_from]
    job = UploadJob(slot.id, user_id, kind, path, files)
    jobs().start(job, argv, cleanup, slot)
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
    """Start an import of a server folder."""
    try:
        job = start_from_folder(request.form.get("path", "").strip(), current_user.id, request.form)
    except (UploadError, TooManyJobs) as exc:
        flash(str(exc), "error")
    else:
        flash(f"Import {job.id} started on {job.files} images.", "ok")
    return redirect(url_for("upload.index"))


def init_app(app: Flask) -> None:
    """Give the app its job registry."""
    app.extensions.setdefault("facetrove.jobs", UploadJobs())
