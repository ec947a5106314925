"""`facetrove collector import`: bring an existing data set into the store."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from facetrove.collector.cli.common import config_option, data_dir_option, load
from facetrove.collector.importer.summary import ImportSummary
from facetrove.collector.store.db import DB_NAME, StoreError


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@config_option
@data_dir_option
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    help="auto, folder (class folders; also yolo-cls), csv, tf-csv, yolo, coco, voc, createml.",
)
@click.option(
    "--as",
    "state",
    type=click.Choice(["confirmed", "pending"]),
    default="confirmed",
    show_default=True,
    help="Labelled images as confirmed samples (an 'import' decision in their review history) "
    "or as pending ones that reviewers confirm.",
)
@click.option("--tag", help="Source recorded on every sample: data set name, licence note.")
@click.option(
    "--faces",
    type=click.Choice(["auto", "cropped", "detect"]),
    default="auto",
    show_default=True,
    help="Are unannotated images face crops (stored whole) or photos whose faces the agent "
    "finds? auto: crops are at most 320 px and nearly square.",
)
@click.option("--add-classes", is_flag=True, help="Add labels that are not classes yet.")
@click.option(
    "--subject-from",
    metavar="parent|regex:PATTERN",
    help="Record who each face shows, for versions split with group_by: subject. parent: the "
    "folder above the class folder (alice/happy/1.jpg); regex:PATTERN: the pattern's first group "
    "in the file name ('regex:^([A-Z]+)[.]' gives KA for KA.AN1.39.tiff).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON lines: one progress event per batch, then the summary (the last line).",
)
@click.option(
    "--agent-command",
    help="Command that runs 'facetrove agent' for photos that need face detection "
    "(default: the facetrove next to this one).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--user-id", type=int, hidden=True, help="Record the decisions as this user's.")
def import_cmd(
    path: Path,
    config_path: Path | None,
    data_dir: Path | None,
    fmt: str,
    state: str,
    tag: str | None,
    faces: str,
    add_classes: bool,
    subject_from: str | None,
    as_json: bool,
    agent_command: str | None,
    quiet: bool,
    user_id: int | None,
) -> None:
    """Import a folder or zip of face images: class folders of crops or photos, or an
    annotated set exported as TF CSV, CSV, YOLO, COCO, Pascal VOC or CreateML (ours or
    Roboflow's layout).

    Exact-byte duplicates are skipped, and importing the same thing twice adds nothing. Hidden
    files, unsafe names, nested zips, non-images and broken images are skipped with a reason.

    \b
    Example:
      facetrove collector import ./fer-faces --data-dir ./data --tag "FER sample, CC0"
      facetrove collector import export.zip --format yolo --as pending
      facetrove collector import ./jaffe --subject-from 'regex:^([A-Z]+)[.]' --tag JAFFE
    """
    from facetrove.collector.importer.base import ImportRefused
    from facetrove.collector.importer.registry import FORMAT_CHOICES
    from facetrove.collector.importer.run import Importer, ImportOptions
    from facetrove.collector.store import connect

    if fmt not in FORMAT_CHOICES:
        raise click.BadParameter(
            f"{fmt!r} is not a format; one of: {', '.join(FORMAT_CHOICES)}", param_hint="--format"
        )
    config = load(config_path, data_dir=data_dir)
    options = ImportOptions(
        fmt,
        state,  # type: ignore[arg-type]  # click.Choice checked it
        tag,
        faces,  # type: ignore[arg-type]
        add_classes,
        user_id=user_id,
        agent_command=shlex.split(agent_command) if agent_command else None,
        subject_from=subject_from,
    )
    new_store = _NewStore(config.data_dir)
    try:
        db = connect(config.data_dir / DB_NAME)
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"cannot open the store in {config.data_dir}: {exc}") from None
    try:
        if as_json:
            summary = Importer(config.data_dir, db, options, _json_progress).run(path)
        else:
            with _progress(quiet) as progress:
                summary = Importer(config.data_dir, db, options, progress).run(path)
    except ImportRefused as exc:
        db.close()
        new_store.remove()
        if as_json:
            click.echo(json.dumps({"event": "refused", "error": str(exc)}))
        raise click.ClickException(str(exc)) from None
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"import stopped: {exc}") from None
    finally:
        db.close()
    failed = summary.nothing_imported()  # every file unreadable: a failure, with its summary
    if failed:
        new_store.remove()
    if as_json:
        click.echo(json.dumps({"event": "summary", **summary.to_json()}))
        if failed:
            click.echo(json.dumps({"event": "refused", "error": failed}))
    else:
        for line in summary.lines():
            click.echo(line)
    if failed:
        raise click.ClickException(failed)


class _NewStore:
    """What opening the store creates when none was there, so that a refused import can take it
    away again: a data folder that would pass for an (empty) store later. A store that was
    there is never touched."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root: Path | None = None  # the topmost folder that does not exist yet
        for folder in (data_dir, *data_dir.parents):
            if folder.exists():
                break
            self.root = folder
        self.had: set[str] | None = None  # what a data folder without a store held
        if self.root is None and not (data_dir / DB_NAME).exists():
            self.had = set(os.listdir(data_dir)) if data_dir.is_dir() else None

    def remove(self) -> None:
        """Remove what was created since (nothing if the store was there)."""
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        elif self.had is not None:
            for name in set(os.listdir(self.data_dir)) - self.had:
                target = self.data_dir / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    target.unlink(missing_ok=True)


def _json_progress(summary: ImportSummary, done: int, total: int) -> None:
    event = {"event": "progress", "done": done, "total": total, "outcomes": summary.outcomes}
    if summary.stage:
        event["stage"] = summary.stage
    click.echo(json.dumps(event), nl=True)


class _progress:
    """A rich progress bar with the running counts (nothing when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.bar: Progress | None = None
        if not quiet:
            self.bar = Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
            )
            self.task = self.bar.add_task("import", total=None, counts="")

    def __enter__(self) -> _progress | None:
        # started by the first batch: a refused import prints only its error
        return None if self.bar is None else self

    def __call__(self, summary: ImportSummary, done: int, total: int) -> None:
        assert self.bar is not None
        if not self.bar.live.is_started:
            self.bar.start()
        o = summary.outcomes
        counts = (
            f"imported {o['imported']} · already {o['already-imported']} · "
            f"duplicate {o['duplicate']} · skipped {o['skipped']}"
        )
        if summary.stage:
            counts += f" · {summary.stage}…"
        self.bar.update(self.task, completed=done, total=total, counts=counts)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None and self.bar.live.is_started:
            self.bar.stop()


COMMANDS: list[click.Command] = [import_cmd]
