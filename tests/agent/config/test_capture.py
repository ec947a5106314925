"""Capture config sections: unknown keys refused, every field described and documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from facetrove.agent.config.capture import (
    CropConfig,
    DetectorConfig,
    PrelabelConfig,
    QualityConfig,
    SamplerConfig,
    SourceConfig,
)

SECTIONS: dict[str, type[BaseModel]] = {
    "source": SourceConfig,
    "detector": DetectorConfig,
    "quality": QualityConfig,
    "sampler": SamplerConfig,
    "crop": CropConfig,
    "prelabel": PrelabelConfig,
}
DOC = Path(__file__).resolve().parents[3] / "docs" / "agent-pipeline.md"


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_every_field_is_described_and_documented(name: str) -> None:
    doc = DOC.read_text()
    for field, info in SECTIONS[name].model_fields.items():
        assert info.description, f"{name}.{field} has no description"
        assert f"`{name}.{field}`" in doc, f"{name}.{field} is missing from {DOC.name}"


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_unknown_keys_are_errors(name: str) -> None:
    with pytest.raises(ValidationError, match="extra_typo"):
        SECTIONS[name].model_validate({"extra_typo": 1})


@pytest.mark.parametrize(
    ("cls", "data", "match"),
    [
        (QualityConfig, {"min_brightness": 200, "max_brightness": 100}, "min_brightness"),
        (SourceConfig, {"reconnect_initial_s": 10, "reconnect_max_s": 1}, "reconnect_max_s"),
        (DetectorConfig, {"model": "long_range"}, "short_range"),
        (SamplerConfig, {"traffic_percent": 101}, "traffic_percent"),
        (CropConfig, {"size": 8}, "size"),
    ],
)
def test_bad_values_name_the_field(
    cls: type[BaseModel], data: dict[str, object], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        cls.model_validate(data)
