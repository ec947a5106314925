"""Log set-up shared by the agent and the collector: text lines, or one JSON object a line.

``FACETROVE_LOG_FORMAT=json`` (e.g. ``Environment=`` in a systemd unit, ``environment:`` in
compose) makes every log record one JSON object on stderr, for Loki, journald's JSON output
or any collector that reads JSON lines. Anything else, or unset, gives the text lines.

In JSON mode the rest of what goes to stderr is JSON too: a command's ``Error: ...`` line
(:func:`facetrove.cli.main`), user-facing lines printed with :func:`say`, Python warnings, and
an exception nobody caught, in any thread (:func:`install_json_hooks`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from datetime import datetime, timezone
from types import TracebackType

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
    if json_logs():
        logging.captureWarnings(True)


def json_line(level: str, logger: str, message: str, exception: str | None = None) -> str:
    """One JSON log line as :class:`JsonFormatter` writes them."""
    line = {
        "time": datetime.now(timezone.utc).isoformat(),
        "level": level,
        "logger": logger,
        "message": message,
    }
    if exception:
        line["exception"] = exception
    return json.dumps(line, ensure_ascii=False)


def say(message: str, level: str = "INFO", logger: str = "facetrove") -> None:
    """A line for the user on stderr: as given, or one JSON object in JSON mode."""
    text = json_line(level, logger, message) if json_logs() else message
    print(text, file=sys.stderr, flush=True)


def install_json_hooks() -> None:
    """In JSON mode, an uncaught exception (main thread or any other) is one CRITICAL JSON line
    with its traceback in ``exception``, not Python's multi-line text."""
    if not json_logs():
        return

    def main_hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        say_raw("uncaught exception: " + (str(exc) or kind.__name__), text)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        text = "".join(
            traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        )
        name = args.thread.name if args.thread is not None else "?"
        say_raw(f"uncaught exception in thread {name}: {args.exc_value}", text)

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
    # A command that configures no logging still gets its warnings out through lastResort.
    last = logging.StreamHandler(sys.stderr)
    last.setLevel(logging.WARNING)
    last.setFormatter(JsonFormatter())
    logging.lastResort = last


def say_raw(message: str, exception: str) -> None:
    print(json_line("CRITICAL", "facetrove", message, exception), file=sys.stderr, flush=True)
