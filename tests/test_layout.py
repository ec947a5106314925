"""House rules of the layout: agent and collector share only wire/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _package(module: str) -> str:
    """`facetrove.agent.x` -> `agent`: which of our packages (or which library) a module is."""
    parts = module.split(".")
    return parts[1] if parts[0] == "facetrove" and len(parts) > 1 else parts[0]


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), _package(a.name)) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = (
                    [f"{node.module}.{a.name}" for a in node.names]
                    if node.module == "facetrove"
                    else [node.module]
                )
                found |= {(str(path.relative_to(ROOT)), _package(n)) for n in names}
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("agent", "collector"), ("collector", "agent"), ("wire", "agent"), ("wire", "collector")],
)
def test_packages_do_not_import_each_other(package: str, forbidden: str) -> None:
    bad = sorted(f for f, mod in _imports(package) if mod == forbidden)
    assert not bad, f"{package}/ imports {forbidden}/ in: {bad} (they may share only wire/)"


def test_wire_uses_stdlib_and_pydantic_only() -> None:
    import sys

    # pydantic_core is part of pydantic (its custom-error type is public API there)
    allowed = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core", "wire", "__future__"}
    bad = sorted((f, m) for f, m in _imports("wire") if m not in allowed)
    assert not bad, f"wire/ must depend on the standard library and pydantic only: {bad}"
