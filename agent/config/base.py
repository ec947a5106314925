"""The base of every agent config section: unknown keys are errors that name their path."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. Unknown keys are rejected so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
