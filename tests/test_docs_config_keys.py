"""Every config setting the docs tell people to write (`section.key: value`, `--set section.key=`)
is a real key of the agent's or the collector's config: `capture.send_frame: true` was an error."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from facetrove.agent.config import AgentConfig
from facetrove.collector.config import CollectorConfig

ROOT = Path(__file__).resolve().parents[1]
# Placeholders and the docs' own examples of an error message for a misspelt key.
NOT_SETTINGS = {"key.path", "section.key", "path.to.key", "sampler.per_minut", "ingest.foo"}
SETTING = re.compile(r"`([a-z_]+(?:\.[a-z_]+)+): [^`]+`|--set ([a-z_]+(?:\.[a-z_]+)+)=")


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        out.add(prefix + name)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out |= _keys(sub, prefix + name + ".")
    return out


def test_settings_named_in_docs_exist() -> None:
    known = _keys(AgentConfig) | _keys(CollectorConfig)
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    unknown = []
    for doc in docs:
        for match in SETTING.finditer(doc.read_text()):
            key = match.group(1) or match.group(2)
            if key not in known | NOT_SETTINGS:
                unknown.append(f"{doc.relative_to(ROOT)}: {key}")
    assert not unknown, "settings the docs name that no config has:\n" + "\n".join(unknown)
