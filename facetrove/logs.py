"""Log set-up shared by the agent and the collector: text lines, or one JSON object a line.

``FACETROVE_LOG_FORMAT=json`` (e.g. ``Environment=`` in a systemd unit, ``environment:`` in
compose) makes every log record one JSON object on stderr, for Loki, journald's JSON output
or any collector that reads JSON lines. Anything else, or unset, gives the text lines.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone

ENV = "FACETROVE_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"[, "exception"]}``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def json_logs() -> bool:
    """Whether ``FACETROVE_LOG_FORMAT`` asks for JSON lines."""
    return os.environ.get(ENV, "").strip().lower() == "json"


def configure_logging(level: int | str = logging.INFO) -> None:
    """Root logger on stderr at ``level``, as text or JSON lines (``FACETROVE_LOG_FORMAT``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs() else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
