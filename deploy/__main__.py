"""``python -m facetrove.deploy``: print or copy the deployment files the wheel ships.

Works with no dependency installed (standard library only)::

    python -m facetrove.deploy lock agent            # the lock for this machine's architecture
    python -m facetrove.deploy overrides             # for uv pip install --overrides
    python -m facetrove.deploy list                  # every shipped file
    python -m facetrove.deploy show systemd/facetrove-agent.service
    python -m facetrove.deploy copy /etc/facetrove/deploy
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from facetrove import deploy


def _print(path: Path) -> None:
    sys.stdout.write(path.read_text())


def _copy(dest: Path) -> None:
    for name in deploy.files():
        target = dest / name
        if target.exists():
            raise deploy.DeployFileError(f"{target} exists: refusing to overwrite it")
    for name in deploy.files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(deploy.path(name), target)
        print(target)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m facetrove.deploy",
        description="Print or copy the deployment files facetrove ships (locks, overrides, "
        "systemd units, example configs, Mosquitto and compose files).",
        epilog="Example: python -m facetrove.deploy lock agent > lock.txt",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    lock = sub.add_parser("lock", help="print the pinned lock file of a flavour")
    lock.add_argument("flavour", choices=deploy.FLAVOURS)
    lock.add_argument(
        "--arch", choices=deploy.ARCHES, help="target architecture (default: this machine)"
    )
    sub.add_parser("overrides", help="print the uv overrides that keep exactly one OpenCV")
    sub.add_parser("list", help="list the shipped files")
    show = sub.add_parser("show", help="print one shipped file")
    show.add_argument("name", help="a name from `list`, e.g. systemd/facetrove-agent.service")
    copy = sub.add_parser("copy", help="copy every shipped file into a folder (never overwrites)")
    copy.add_argument("dest", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (2 for an unknown file, lock or architecture)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "lock":
            warning = deploy.python_mismatch()
            if warning:
                print(f"warning: {warning}", file=sys.stderr)
            _print(deploy.lock_path(args.flavour, args.arch))
        elif args.command == "overrides":
            _print(deploy.path("overrides.txt"))
        elif args.command == "list":
            print("\n".join(deploy.files()))
        elif args.command == "show":
            _print(deploy.path(args.name))
        else:
            _copy(args.dest)
    except deploy.DeployFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
