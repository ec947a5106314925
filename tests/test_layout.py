"""House rules of the layout: agent and collector share only wire/."""

from __future__ import annotations

import ast
import re
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


# SQL: a statement's opening words, as they start a string literal.
_SQL = re.compile(
    r"^\s*(insert\s+(or\s+\w+\s+)?into\b|update\s+\w+\s+set\b|delete\s+from\b"
    r"|create\s+(unique\s+)?(table|index|view|trigger)\b|(drop|alter)\s+table\b|pragma\s+\w+"
    r"|with\s+\w+(\s*\([^)]*\))?\s+as\s*\()",
    re.IGNORECASE | re.DOTALL,
)
# A lone transaction word is SQL only in capitals: "rollback" is also a model command's name.
_TRANSACTION = re.compile(
    r"^\s*(BEGIN(\s+(IMMEDIATE|EXCLUSIVE|DEFERRED))?|COMMIT|ROLLBACK)\s*;?\s*$"
)
# What only a database handle does: raw statements and sqlite-utils' table API.
_DB_CALLS = {"execute", "executemany", "executescript", "query", "table", "rows_where"}
_DRIVERS = {"sqlite3", "sqlite_utils"}


_SELECT = re.compile(r"^\s*select\s+(.*?)\bfrom\s+\w", re.IGNORECASE | re.DOTALL)
_SELECT_ITEM = re.compile(r"^\s*(distinct\s+)?[\w.*'?]*(\s+as\s+\w+)?\s*$", re.IGNORECASE)


def _is_sql(text: str) -> bool:
    """Whether a string literal is (the start of) an SQL statement, not prose."""
    if _SQL.match(text) or _TRANSACTION.match(text):
        return True
    found = _SELECT.match(text)
    if not found:
        return False
    columns = found.group(1)
    while re.search(r"\([^()]*\)", columns):
        columns = re.sub(r"\([^()]*\)", "", columns)
    return all(_SELECT_ITEM.match(item) for item in columns.split(","))


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal (f-strings by their literal parts), docstrings left out."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            out.append((node.lineno, text))
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        ):
            out.append((node.lineno, node.value))
    return out


def sql_outside_store(root: Path) -> list[str]:
    """Places in ``root`` (a collector/ tree) outside ``store/`` that speak SQL."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "store":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, text in _strings(tree):
            if _is_sql(text):
                found.append(f"{rel}:{line}: SQL {text.strip()[:50]!r}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in _DB_CALLS:
                    found.append(f"{rel}:{node.lineno}: .{node.func.attr}(...) on a database")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                found += [
                    f"{rel}:{node.lineno}: imports {n}"
                    for n in names
                    if n.split(".")[0] in _DRIVERS
                ]
    return found


def test_only_the_store_speaks_sql() -> None:
    """collector/store/ is the only place with SQL, database calls or the SQLite drivers, so a
    second backend (PostgreSQL) replaces one folder."""
    bad = sql_outside_store(ROOT / "collector")
    assert not bad, "SQL outside collector/store/ (add a store function instead):\n" + "\n".join(
        bad
    )


@pytest.mark.parametrize(
    "source",
    [
        'rows = db.execute("SELECT id FROM samples").fetchall()',
        'db.conn.execute(f"UPDATE devices SET {a} WHERE id = ?", [x])',
        'sql = """\n  insert or ignore into samples (id) values (?)"""',
        "import sqlite3",
        "from sqlite_utils import Database",
        'db["versions"].get("v1")\ndb.table("versions").update("v1", {})',
        'x = "WITH t(d) AS (VALUES (1)) SELECT d FROM t"',
        'x = f"SELECT {COLUMNS} FROM samples s WHERE s.id = ?"',
        'x = "SELECT MIN(CAST(c * 10 AS INTEGER), 9), COUNT(*) FROM samples GROUP BY 1"',
        'x = "select s.*, v.split from samples s join version_samples v"',
    ],
)
def test_the_sql_check_sees_sql(tmp_path: Path, source: str) -> None:
    """The check above fails on each way SQL has been written in this code base."""
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "page.py").write_text(source + "\n")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "rows.py").write_text(source + "\n")
    found = sql_outside_store(tmp_path)
    assert found and all(f.startswith("web/page.py") for f in found), found


def test_the_sql_check_leaves_prose_alone(tmp_path: Path) -> None:
    """Words like "select" or "update" in messages and docstrings are not SQL."""
    (tmp_path / "page.py").write_text(
        '"""Select the confirmed samples from the store, then update the card."""\n'
        'msg = "select a class from the list"\nhelp_text = "Delete a version"\n'
        "x = {}.update(a=1)\n"
    )
    assert sql_outside_store(tmp_path) == []


#: House rule (COORD.md): a file over this many lines is split into units that can be named.
MAX_LINES = 400


def test_product_files_stay_under_400_lines() -> None:
    """Every Python file of the product (agent/, collector/, wire/, deploy/, facetrove/) stays
    under 400 lines; a longer one is split (e.g. the outbox's eviction, the runner's orders)."""
    files = [
        p for top in ("agent", "collector", "wire", "deploy") for p in (ROOT / top).rglob("*.py")
    ]
    files += [p for p in (ROOT / "facetrove").glob("*.py") if not p.is_symlink()]
    long = {
        str(p.relative_to(ROOT)): n
        for p in files
        if (n := len(p.read_text().splitlines())) >= MAX_LINES
    }
    assert files and not long, f"files of {MAX_LINES} lines or more (split them): {long}"
