"""Dataset versions (owned by the versions area; this is the placeholder it extends)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("versions", __name__, url_prefix="/versions")


@bp.get("/")
def index() -> Any:
    """The list of dataset versions."""
    return render_template("versions/index.html")
