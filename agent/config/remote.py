"""The collector's run-time config (``wire.AgentConfig``) merged over the local settings.

The agent checks a whole config before any of it takes effect, pause included: a config it
refuses changes nothing. ``overridden`` is the one merge rule (unset fields keep the local
value) used both by that check and by the quality gate and sampler when they apply it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel

from facetrove import wire
from facetrove.agent.config import AgentConfig

_S = TypeVar("_S", bound=BaseModel)


def overridden(base: _S, overrides: BaseModel) -> _S:
    """``base`` with the set fields of ``overrides``, validated again as a whole.

    Raises:
        ValueError: the merged settings are inconsistent (pydantic's ``ValidationError``).
    """
    changes = {k: v for k, v in overrides.model_dump().items() if v is not None}
    return type(base).model_validate({**base.model_dump(), **changes})


def check_class_targets(targets: Mapping[str, float]) -> None:
    """Raise ``ValueError`` unless every class target is >= 0."""
    bad = {k: v for k, v in targets.items() if not v >= 0}
    if bad:
        raise ValueError(f"class targets must be >= 0: {bad}")


def check_remote_config(local: AgentConfig, remote: wire.AgentConfig) -> None:
    """Raise ``ValueError`` if ``remote`` cannot be applied over ``local``; changes nothing."""
    overridden(local.quality, remote.quality)
    overridden(local.sampler, remote.sampling)
    check_class_targets(remote.class_targets)
