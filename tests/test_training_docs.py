"""docs/training.md, run as written: every Python and shell block on a small version of real faces.

Each block carries a marker: ``<!-- run: NAME -->`` (run here, in order, in one working folder
holding ``data/``) or ``<!-- not run: REASON -->`` (its library cannot be installed on our CI
machines; listed as skipped with the reason, never passed silently).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.collector.importer.conftest import write_crops, write_people
from tests.collector.train.helpers import need_train_extra
from tests.collector.versions.factory import FactoryStore
from tests.support.data import require

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "training.md"
_FENCE = re.compile(r"^```(python|sh|bash)\n(.*?)^```", re.S | re.M)
_MARK = re.compile(r"<!-- (run|not run): ([^>]*?) -->\n$")


def _blocks() -> list[tuple[str, str, str, str]]:
    """(kind, name or reason, language, code) for every fenced block, in doc order."""
    text = DOC.read_text(encoding="utf-8")
    found = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()]
        mark = _MARK.search(before[-200:])
        line = before.count("\n") + 1
        assert mark, f"docs/training.md line {line}: a code block without a run / not run marker"
        found.append((mark.group(1), mark.group(2).strip(), m.group(1), m.group(2)))
    return found


BLOCKS = _blocks()
RUN = [(name, lang, code) for kind, name, lang, code in BLOCKS if kind == "run"]
NOT_RUN = [(reason, code) for kind, reason, _, code in BLOCKS if kind == "not run"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``data/``: a store, version emotions-v1 (crops and frames), and the csv,
    voc and createml exports the loader snippets read (the folder export is a block itself);
    ``posed/`` (real faces as eight people, the person in the file name) and ``wild/`` (the
    same faces at another size: the mechanics of a benchmark, not other people) for the posed
    section, and ``bench/`` (the repository's) for its bench command."""
    need_train_extra()
    from facetrove.collector.export.registry import export_version
    from facetrove.collector.versions.build import create_version

    work = tmp_path_factory.mktemp("training-docs")
    store = FactoryStore(work / "data")
    store.add(30, tracks=15, devices=3)
    recipe = (
        "classes: [angry, happy, neutral, sad, surprise]\n"
        "split: {train: 0.6, valid: 0.2, test: 0.2}\n"
    )
    version = create_version(store.data_dir, store.db, recipe, name="emotions-v1", progress=False)
    for fmt in ("csv", "voc", "createml"):
        export_version(version.path, fmt, work / "data" / fmt)
    write_people(work / "posed", per_face=6, layout="name")
    write_crops(work / "wild", per_face=1, size=64)
    (work / "bench").symlink_to(ROOT / "bench")
    return work


def _run(workdir: Path, lang: str, code: str, timeout: int = 300) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KERAS_BACKEND": "torch",
        "COLUMNS": "160",
    }
    cmd = (
        [sys.executable, "-c", code]
        if lang == "python"
        else ["bash", "-euo", "pipefail", "-c", code]
    )
    proc = subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_the_doc_marks_its_blocks() -> None:
    names = [name for name, _, _ in RUN]
    assert names[:7] == [
        "train-cli", "train-api", "posed-commands", "posed-bench", "export-folder", "torch-cnn",
        "keras-cnn",
    ]  # fmt: skip
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(("name", "lang", "code"), RUN, ids=[n for n, _, _ in RUN])
def test_run_block(workdir: Path, name: str, lang: str, code: str) -> None:
    if name == "keras-cnn" and importlib.util.find_spec("keras") is None:
        require("keras", "make test installs it (Keras 3 on the PyTorch backend)")
    if name in ("torch-cnn", "keras-cnn") and not (workdir / "data" / "folder").is_dir():
        pytest.fail("data/folder is missing: the export-folder block runs first")
    out = _run(workdir, lang, code, timeout=900 if name == "posed-bench" else 300)
    if name == "train-cli":
        assert "emo-ft1 against bundled" in out and "model.onnx" in out and "card.md" in out
    elif name == "posed-commands":
        assert "subjects: 8 (p0 6, p1 6," in out, out  # the import's count per person
        assert "subjects (people): 8; in several splits: 0" in out, out
        assert "posed-ft against bundled" in out and "wild benchmark" in out, out
    elif name == "posed-bench":
        assert "new people (test)" in out and "pooled over folds" in out, out
        assert (workdir / "posed-bench" / "summary.json").is_file()
    elif name == "train-api":
        assert "data/models/emo-ft2" in out and "emo-ft1" in out and "emo-ft2" in out
    elif name in ("torch-cnn", "keras-cnn"):
        m = re.search(r"test accuracy: (\d+\.\d)% on (\d+) images", out)
        assert m and int(m.group(2)) > 0 and 0 <= float(m.group(1)) <= 100, out
        print(f"{name}: {m.group(0)}")
    else:
        assert out.strip(), f"{name} printed nothing"


@pytest.mark.parametrize(
    ("reason", "code"), NOT_RUN, ids=[f"not-run-{i}" for i in range(len(NOT_RUN))]
)
def test_blocks_not_run_are_listed_loudly(reason: str, code: str) -> None:
    first = code.strip().splitlines()[0]
    pytest.skip(f"NOT RUN docs/training.md block ({first}): {reason}")


def test_the_posed_bench_without_a_set_says_so_and_exits_2() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_train_posed.py")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("NO POSED SET GIVEN"), proc.stderr
    assert "make_posed_smoke.py" in proc.stderr and not proc.stdout
