"""Fine-tuning measured on people the model never saw: a posed-expression set split by subject,
and other faces as a benchmark version (issue 12's "done when").

    .venv/bin/python bench/bench_train_posed.py --posed DIR [--wild DIR] [--folds 4]

``--posed DIR`` holds ``<class>/<image>`` with the person in the file name (JAFFE's
``KA.HA1.29.tiff``: the default rule takes the letters and digits before the first ``.``, ``_``
or ``-``) or ``<person>/<class>/<image>`` (found by itself: the top folders are not class
names); ``--subject-from`` sets another rule. ``--wild DIR`` holds ``<class>/<image>`` of other
people, e.g. in-the-wild crops. Class folders must be named like the project's classes (angry,
disgust, fear, happy, neutral, sad, surprise).

Everything goes through the product, each command printed as it runs, into a new store: import
(``--subject-from``, tags ``posed`` and ``wild``), one version per fold split with ``group_by:
subject`` (seeds are tried until ``--folds`` versions are found or ``--max-seeds`` run out; a
version is kept when its test split holds out somebody no earlier fold did), and ``facetrove
collector train`` with its defaults (``--benchmark wild``). The table gives top-1 and macro-F1
of the bundled model and of the fine-tuned one on the test people of each fold and on the wild
set, with n, and the epoch early stopping kept (0: the parent's weights, unchanged); the pooled
rows count a person held out in two folds twice. ``summary.json`` in the work folder has the
rest.
Without ``--posed`` it says that nothing can be measured and exits 2. ``make_posed_smoke.py``
writes a four-person smoke set from packages on PyPI.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NAME_RULE = r"regex:^([A-Za-z0-9]+)[._-]"
NO_POSED = """\
NO POSED SET GIVEN: nothing was measured.
This bench needs a posed-expression set of several people (--posed DIR), to train on some of
them and test on the others. facetrove ships none and none can be fetched from PyPI here
(JAFFE, CK+, KDEF and RaFD are handed out on request, for research). With your copy:
  python bench/bench_train_posed.py --posed ./jaffe --wild ./fer-crops
or, to see the mechanics on four people from packages on PyPI (a smoke test, not a figure):
  python bench/make_posed_smoke.py /tmp/posed-smoke
  python bench/bench_train_posed.py --posed /tmp/posed-smoke/posed --wild /tmp/posed-smoke/wild
"""


class Bench:
    """The store, the commands and what they printed."""

    def __init__(self, work: Path, console: Console) -> None:
        self.data = work / "data"
        self.work = work
        self.console = console
        self.exe = Path(sys.executable).parent / "facetrove"

    def run(self, *args: str) -> str:
        """Run ``facetrove ARGS --data-dir DATA``, printing it; stops the bench if it fails."""
        argv = [*args, "--data-dir", str(self.data)]
        self.console.print(f"$ facetrove {shlex.join(argv)}", style="bold", highlight=False)
        started = time.monotonic()
        proc = subprocess.run([str(self.exe), *argv], capture_output=True, text=True)
        if proc.returncode != 0:
            self.console.print(proc.stdout[-3000:], proc.stderr[-3000:], highlight=False)
            sys.exit(f"failed (exit {proc.returncode}): facetrove {shlex.join(argv)}")
        self.console.print(f"  ({time.monotonic() - started:.0f} s)", style="dim")
        return proc.stdout

    def version(self, name: str, recipe: str) -> dict[str, Any]:
        path = self.work / f"{name}.yaml"
        path.write_text(recipe)
        self.run("collector", "version", "create", "--recipe", str(path), "--name", name)
        card: dict[str, Any] = json.loads(self.run("collector", "version", "show", name, "--json"))
        return card


def subject_rule(posed: Path, given: str | None) -> str:
    """``given``, else ``parent`` when the top folders are not class names, else the name rule."""
    if given:
        return given
    tops = [p.name.lower() for p in posed.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return NAME_RULE if tops and all(t in CLASSES for t in tops) else "parent"


def posed_recipe(seed: int, split: tuple[float, ...]) -> str:
    train, valid, test = split
    shares = f"train: {train}, valid: {valid}, test: {test}"
    split_line = f"split: {{{shares}, group_by: subject}}"
    return f"tags: [posed]\ntask: classification\nseed: {seed}\n{split_line}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posed", type=Path, help="posed-expression set of several people")
    ap.add_argument("--wild", type=Path, help="other people's faces, reported as a benchmark")
    ap.add_argument("--subject-from", help=f"rule for the person (default: {NAME_RULE} or parent)")
    ap.add_argument("--faces", default="auto", choices=["auto", "cropped", "detect"])
    ap.add_argument("--folds", type=int, default=4, help="versions with different test people")
    ap.add_argument("--max-seeds", type=int, default=40, help="seeds tried to find the folds")
    ap.add_argument("--split", default="0.6,0.2,0.2", help="train,valid,test shares")
    ap.add_argument("--epochs", type=int, help="default: the trainer's own (15)")
    ap.add_argument("--work", type=Path, help="new folder for the store and summary.json")
    args = ap.parse_args()
    if args.posed is None:
        print(NO_POSED, file=sys.stderr, end="")
        sys.exit(2)
    for given in (args.posed, args.wild):
        if given is not None and not given.is_dir():
            sys.exit(f"{given} is not a folder")
    console = Console()
    work = args.work or Path(tempfile.mkdtemp(prefix="posed-bench-"))
    if (work / "data").exists():
        sys.exit(f"{work / 'data'} exists: give a new --work folder")
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(work, console)
    faces = ("--faces", args.faces)
    rule = subject_rule(args.posed, args.subject_from)
    bench.run("collector", "import", str(args.posed), "--tag", "posed", "--subject-from", rule,
              *faces, "--quiet")  # fmt: skip
    if args.wild:
        bench.run("collector", "import", str(args.wild), "--tag", "wild", *faces, "--quiet")
        bench.version("wild", "tags: [wild]\ntask: classification\n"
                      "split: {train: 1, valid: 0, test: 0, group_by: none}\n")  # fmt: skip
    split = tuple(float(x) for x in args.split.split(","))
    assert len(split) == 3, "--split takes three shares"
    folds: list[dict[str, Any]] = []
    held_out: set[str] = set()
    everyone: set[str] = set()
    for seed in range(args.max_seeds):
        if len(folds) == args.folds:
            break
        name = f"posed-s{seed}"
        card = bench.version(name, posed_recipe(seed, split))
        people = card["leakage"]["subjects_per_split"]
        everyone |= {n for per in people.values() for n in per["names"]}
        tested = set(people["test"]["names"])
        if tested <= held_out:  # nobody new held out: another seed
            bench.run("collector", "version", "delete", name, "--yes")
            continue
        held_out |= tested
        train = ["collector", "train", name, "--name", f"ft-s{seed}"]
        train += ["--benchmark", "wild"] if args.wild else []
        train += ["--epochs", str(args.epochs)] if args.epochs else []
        bench.run(*train)
        report = json.loads((bench.data / "models" / f"ft-s{seed}" / "report.json").read_text())
        folds.append({"seed": seed, "people": people, "report": report})
    never = sorted(everyone - held_out)
    summary = {
        "posed": str(args.posed), "wild": str(args.wild), "rule": rule, "folds": folds,
        "never_held_out": never,
    }  # fmt: skip
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    console.print(table(folds))
    if never:
        console.print(f"never held out in {len(folds)} folds: {', '.join(never)}")
    console.print(f"work folder: {work} (summary.json, the store, each model's report)")


def _scores(evaluation: dict[str, Any]) -> list[str]:
    new, old = evaluation["models"]["new"], evaluation["models"]["baseline"]
    return [
        str(evaluation["n"]),
        f"{old['top1'] * 100:.1f} -> {new['top1'] * 100:.1f}",
        f"{old['macro_f1'] * 100:.1f} -> {new['macro_f1'] * 100:.1f}",
    ]


def table(folds: list[dict[str, Any]]) -> Table:
    """One row per fold and evaluation: bundled -> fine-tuned, top-1 and macro-F1 in %."""
    out = Table(title="bundled -> fine-tuned (top-1 %, macro-F1 %), each fold's test people")
    for col in ("fold (seed)", "set", "people", "n", "top-1", "macro-F1", "kept epoch"):
        out.add_column(col, justify="left" if col in ("set", "people") else "right")
    pooled: dict[str, list[int]] = {}
    for fold in folds:
        for ev in fold["report"]["evaluations"]:
            is_test = ev["name"].endswith(" test")
            who = ", ".join(fold["people"]["test"]["names"]) if is_test else "other people"
            label = "new people (test)" if is_test else ev["name"].removesuffix(" benchmark")
            run = fold["report"]["training"]
            kept = f"{run['best_epoch']} of {run['epochs_run']}"  # 0: the parent's weights
            out.add_row(str(fold["seed"]), label, who, *_scores(ev), kept)
            right = pooled.setdefault(label, [0, 0, 0])
            right[0] += round(ev["models"]["baseline"]["top1"] * ev["n"])
            right[1] += round(ev["models"]["new"]["top1"] * ev["n"])
            right[2] += ev["n"]
    for label, (old, new, n) in pooled.items():
        if n:
            out.add_row("all", label, "pooled over folds", str(n),
                        f"{old / n * 100:.1f} -> {new / n * 100:.1f}", "", "")  # fmt: skip
    return out


if __name__ == "__main__":
    main()
