"""The root command on an install that lacks an extra: a clear message, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from facetrove import cli as root


@pytest.mark.parametrize("argv", [["agent"], ["agent", "run", "--source", "0"]])
def test_missing_extra_names_it_and_the_install_doc(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """Tried: `facetrove agent ...` where a module the agent extra brings is absent (as on a
    collector-only install). Kept: exit code 1 and a message naming the extra and docs/install.md.
    """
    module, attr, extra, needs = root._GROUPS["agent"]
    monkeypatch.setitem(
        root._GROUPS, "agent", (module, attr, extra, (*needs, "no_such_module_facetrove"))
    )
    result = CliRunner().invoke(root.cli, argv)
    assert result.exit_code == 1, result.output
    assert "needs the agent extra" in result.output
    assert "no_such_module_facetrove" in result.output
    assert "docs/install.md" in result.output
    assert "Traceback" not in result.output


def test_installed_groups_load() -> None:
    result = CliRunner().invoke(root.cli, ["agent", "--help"])
    assert result.exit_code == 0 and "run" in result.output
