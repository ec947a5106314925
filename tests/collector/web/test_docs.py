"""docs/review.md documents every web config key, command and keyboard shortcut."""

from __future__ import annotations

from pathlib import Path

from facetrove.collector.config.web import WebConfig

DOC = Path(__file__).parents[3] / "docs" / "review.md"


def test_every_config_key_has_a_description_and_is_documented():
    text = DOC.read_text()
    for name, field in WebConfig.model_fields.items():
        assert field.description, f"web.{name} has no description"
        assert f"| `{name}` |" in text, f"web.{name} missing from docs/review.md"


def test_commands_shortcuts_and_screenshots_are_documented():
    text = DOC.read_text()
    for cmd in (
        "user add",
        "user list",
        "user token",
        "classes list",
        "classes add",
        "classes rename",
        "collector web",
        "collector serve",
    ):
        assert cmd in text, cmd
    for key in ("`1` … `9`", "`x`", "`u`", "`Enter`", "`o`"):
        assert key in text, key
    for shot in ("login", "queue", "detail", "dashboard", "devices", "upload"):
        assert f"screenshots/{shot}.png" in text
        assert (DOC.parent / "screenshots" / f"{shot}.png").stat().st_size > 10_000
