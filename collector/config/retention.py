"""`retention:` section: how long rejected and unreviewed samples are kept, and how much space
they may take (`facetrove collector prune`, e.g. from a systemd timer or cron)."""

from __future__ import annotations

from pydantic import Field

from facetrove.config import Section

MAX_DAYS = 36_500  # a hundred years; far more would put the cut-off date before year 1


class RetentionConfig(Section):
    rejected_days: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DAYS,
        description="delete rejected samples received longer ago; unset = keep",
    )
    pending_days: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DAYS,
        description="delete unreviewed (pending) samples received longer ago; unset = keep",
    )
    rejected_max_mb: float | None = Field(
        default=None,
        gt=0,
        description="most image space (crops and frames, MB) rejected samples may take; the "
        "oldest go first; unset = no limit",
    )
    pending_max_mb: float | None = Field(
        default=None,
        gt=0,
        description="most image space (MB) unreviewed samples may take; the oldest go first; "
        "unset = no limit",
    )
