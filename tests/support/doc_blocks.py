"""Shell blocks of the docs that tests run: a fenced block right after ``<!-- run: NAME -->``.

A guide's commands are run as written, with only the environment (HOME, PATH, a working folder)
chosen by the test, so a doc that drifts from what works fails a test.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"<!-- run: ([\w.-]+) -->\n```(?:sh|bash|console)?\n(.*?)^```", re.S | re.M)


def blocks(doc: str) -> dict[str, str]:
    """Named runnable blocks of ``doc`` (a path relative to the repository), in order."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for name, body in _BLOCK.findall(text):
        assert name not in found, f"{doc}: two blocks named {name}"
        found[name] = body
    return found


def block(doc: str, name: str) -> str:
    """One named block; fails the test when the doc lost it."""
    found = blocks(doc)
    assert name in found, f"{doc} has no `<!-- run: {name} -->` block (has: {sorted(found)})"
    return found[name]


def fenced_shell_blocks(doc: str) -> list[str]:
    """Every ```sh block of a doc, named or not (to check that each one is run by some test)."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    return re.findall(r"^```(?:sh|bash)\n(.*?)^```", text, flags=re.S | re.M)
