"""The README is the front door: it names both commands and every CLI command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from facetrove.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _leaf_commands() -> list[str]:
    found: list[str] = []

    def walk(cmd: click.Command, path: list[str], ctx: click.Context) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, f"{' '.join(path)} lists {name} but cannot load it"
                walk(sub, [*path, name], click.Context(sub, parent=ctx, info_name=name))
        else:
            found.append(" ".join(path))

    walk(cli, ["facetrove"], click.Context(cli, info_name="facetrove"))
    return found


def test_readme_gives_the_two_commands() -> None:
    assert "make demo" in README and "make test" in README


@pytest.mark.parametrize("command", _leaf_commands())
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"`{command}" in README, f"README.md has no example of `{command}`"


def test_readme_links_resolve() -> None:
    import re

    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to missing {target}"
