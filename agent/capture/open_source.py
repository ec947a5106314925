"""Open a source from a spec string as typed on the command line (``0``, a path, a URL)."""

from __future__ import annotations

import os
from pathlib import Path

from facetrove.agent.capture.folder_source import FolderSource
from facetrove.agent.capture.source import IMAGE_SUFFIXES, STREAM_SCHEMES, Source, SourceError
from facetrove.agent.capture.video_sources import CameraSource, StreamSource, VideoFileSource
from facetrove.agent.config.capture import SourceConfig


def is_live(spec: str) -> bool:
    """A camera index or stream URL never ends by itself; files and folders do."""
    text = spec.strip()
    return text.isdigit() or text.lower().startswith(STREAM_SCHEMES)


def open_source(spec: str | int, config: SourceConfig | None = None) -> Source:
    """Open a source from a spec as typed on the command line.

    ``0`` (any integer) is a camera index; an existing folder is an image folder; an existing
    file is a single image or a video by its suffix; ``rtsp://``, ``http(s)://`` are streams.

    Raises:
        SourceError: the spec matches nothing, or the source cannot be opened.
    """
    config = config or SourceConfig()
    text = str(spec).strip()
    if isinstance(spec, int) or text.isdigit():
        return CameraSource(int(text), config)
    if text.lower().startswith(STREAM_SCHEMES):
        return StreamSource(text, config)
    path = Path(os.path.expanduser(text))
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return FolderSource(path, config)
    if path.is_file():
        return VideoFileSource(path, config)
    raise SourceError(
        f"source {text!r} not found: not a camera index, an rtsp:// or http(s):// URL, "
        "or an existing file or folder"
    )
