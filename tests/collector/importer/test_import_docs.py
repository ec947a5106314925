"""docs/import.md: every command line in it parses with the real command, and every skip
reason the importer can give is documented."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from facetrove.collector.cli.importer import import_cmd

DOC = (Path(__file__).resolve().parents[3] / "docs" / "import.md").read_text()
COMMANDS = re.findall(r"^facetrove collector import .*$", DOC, re.MULTILINE)
SOURCE = Path(__file__).resolve().parents[3] / "collector" / "importer"


@pytest.mark.parametrize("line", COMMANDS)
def test_every_documented_command_line_parses(line: str) -> None:
    args = shlex.split(line)[3:]
    ctx = import_cmd.make_context("import", args)
    assert ctx.params["path"]


def test_every_skip_reason_is_documented() -> None:
    code = "\n".join(p.read_text() for p in SOURCE.glob("*.py"))
    reasons = set(re.findall(r'(?:skip\([^,]+, |Skip\([^,]+, |BadImage\()"([a-z-]+)"', code))
    reasons |= set(re.findall(r'^\s+reason = "([a-z-]+)"', code, re.MULTILINE))
    reasons |= set(re.findall(r'return "([a-z-]+)"', code))
    assert len(reasons) >= 15, reasons
    missing = sorted(r for r in reasons if f"`{r}`" not in DOC)
    assert not missing, f"docs/import.md does not explain: {missing}"
