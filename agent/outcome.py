"""How a run of the agent ends: exit codes, :class:`RunResult` and the summary line.

The CLI turns a result into its exit code; ``--summary-json`` prints the summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 1  # the source or the pipeline failed
EXIT_CONFIG = 2  # invalid config or TLS file, found before capture
EXIT_UNDELIVERED = 3  # broker refused us or stayed unreachable: samples stay in the outbox


@dataclass
class RunResult:
    """How a run ended; ``summary`` is what ``--summary-json`` prints."""

    exit_code: int
    reason: str
    message: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def summary_line(result: RunResult) -> str:
    """The one-line JSON summary printed by ``--summary-json``."""
    return json.dumps(result.summary, separators=(",", ":"), sort_keys=False)
