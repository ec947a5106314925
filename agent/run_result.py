"""What a run of the agent hands back: exit codes, the result, and the pipeline it drives.

Kept apart from the runner so the CLI, the runner and test doubles share one definition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from facetrove import wire
from facetrove.agent.sources import Frame

EXIT_OK = 0
EXIT_ERROR = 1  # the source or the pipeline failed
EXIT_CONFIG = 2  # invalid config or TLS file, found before capture
EXIT_UNDELIVERED = 3  # broker refused us or stayed unreachable: samples stay in the outbox


class Ready(Protocol):
    """What the pipeline hands over: a sample ready to encode."""

    @property
    def header(self) -> wire.SampleHeader: ...

    def encode(self) -> bytes: ...


class PipelineLike(Protocol):
    """The part of ``agent.pipeline.Pipeline`` the runner uses (test doubles implement it)."""

    @property
    def detector_name(self) -> str: ...

    @property
    def model_id(self) -> str | None: ...

    @property
    def next_track_id(self) -> int: ...

    def process(self, frame: Frame) -> Sequence[Ready]: ...

    def flush(self) -> Sequence[Ready]: ...

    def apply_config(self, cfg: wire.AgentConfig) -> None: ...

    def close(self) -> None: ...


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
