"""The config tables of docs/agent.md and docs/agent-pipeline.md state each key's real default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from facetrove.agent.config import AgentConfig

DOCS = Path(__file__).resolve().parents[3] / "docs"
ROW = re.compile(r"^\| `([a-z_]+(?:\.[a-z_]+)+)` \| `([^`]*)` \|", re.M)


def _defaults() -> dict[str, object]:
    out: dict[str, object] = {}
    for section, info in AgentConfig.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, field in model.model_fields.items():
                out[f"{section}.{name}"] = field.get_default(call_default_factory=True)
    return out


def _norm(text: str) -> str:
    text = text.replace("'", "").replace('"', "").strip().lower()
    return "unset" if text in ("none", "unset", "null") else text


@pytest.mark.parametrize("doc", ["agent.md", "agent-pipeline.md"])
def test_documented_defaults_are_the_real_ones(doc: str) -> None:
    defaults = _defaults()
    rows = ROW.findall((DOCS / doc).read_text())
    checked = 0
    wrong = []
    for key, shown in rows:
        if key not in defaults:
            continue
        real = defaults[key]
        want = "unset" if real is None else _norm(str(real))
        want_path = _norm(Path(str(real)).as_posix()) if isinstance(real, Path) else want
        if _norm(shown) not in (want, want_path):
            wrong.append(f"{key}: documented {shown!r}, real {real!r}")
        checked += 1
    assert not wrong, "\n".join(wrong)
    assert checked >= 40, f"only {checked} keys checked in {doc}"
