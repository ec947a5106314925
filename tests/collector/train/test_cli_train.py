"""`facetrove collector train` as a person runs it: the report tables, the message when PyTorch
is missing, and Ctrl-C (a real SIGINT to a real process) keeping the best epoch so far."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.collector.train.helpers import need_train_extra, store_with_version
from tests.collector.versions.factory import FactoryStore

need_train_extra()

from facetrove.collector.cli import collector  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FactoryStore:
    return store_with_version(tmp_path_factory.mktemp("data"))


def test_the_command_prints_both_models_and_per_class_figures(store: FactoryStore) -> None:
    result = CliRunner().invoke(
        collector,
        ["train", "v1", "--name", "cli1", "--epochs", "1", "--data-dir", str(store.data_dir)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "cli1 against bundled" in out and "v1 test" in out
    assert "per class on v1 test" in out and "surprise" in out
    assert "epoch 1/1" in out and f"wrote {store.data_dir / 'models' / 'cli1'}" in out


def test_without_pytorch_the_command_says_how_to_install_it(store: FactoryStore) -> None:
    # torch blocked as if absent (sys.modules[name] = None makes find_spec and import fail)
    code = (
        "import sys; sys.modules['torch'] = None; from facetrove.cli import main; "
        f"sys.argv = ['facetrove', 'collector', 'train', 'v1', '--name', 'nt', "
        f"'--data-dir', {str(store.data_dir)!r}]; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 1
    assert "needs the train extra" in proc.stderr and "docs/install.md" in proc.stderr
    assert "no torch" in proc.stderr and "Traceback" not in proc.stderr
    assert not (store.data_dir / "models" / "nt").exists()


def test_started_by_a_collector_that_is_gone_it_does_nothing(store: FactoryStore) -> None:
    # a web job names its collector in FACETROVE_PARENT_PID; this one's parent is pytest
    proc = subprocess.run(
        [sys.executable, "-c", "from facetrove.cli import main; main()", "collector", "train",
         "v1", "--name", "orphan", "--data-dir", str(store.data_dir)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "FACETROVE_PARENT_PID": str(_dead_pid())},
    )  # fmt: skip
    assert (proc.stdout, proc.stderr) == ("", "")
    assert not (store.data_dir / "models" / "orphan").exists()


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _start(store: FactoryStore, name: str) -> subprocess.Popen[str]:
    args = ["train", "v1", "--name", name, "--epochs", "400", "--patience", "400"]
    return subprocess.Popen(
        [sys.executable, "-c", "from facetrove.cli import main; main()", "collector", *args,
         "--data-dir", str(store.data_dir), "--batch-size", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip


def _wait_for(proc: subprocess.Popen[str], text: str, timeout: float = 90) -> list[str]:
    assert proc.stdout is not None
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    proc.kill()
    raise AssertionError(f"no {text!r} in:\n{''.join(seen)}")


def test_ctrl_c_stops_cleanly_and_keeps_the_best_epoch(store: FactoryStore) -> None:
    proc = _start(store, "interrupted")
    _wait_for(proc, "epoch 2/400")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "stopped by Ctrl-C" in out and "Traceback" not in out
    folder = store.data_dir / "models" / "interrupted"
    card = json.loads((folder / "card.json").read_text())
    assert card["training"]["stopped"] == "interrupted"
    assert 2 <= card["training"]["epochs_run"] < 400
    assert card["training"]["best_epoch"] <= card["training"]["epochs_run"]
    import onnxruntime as ort

    ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])


def test_a_second_ctrl_c_aborts_and_writes_nothing(store: FactoryStore) -> None:
    proc = _start(store, "aborted")
    _wait_for(proc, "epoch 1/400")
    proc.send_signal(signal.SIGINT)
    _wait_for(proc, "stopping after this batch")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert "aborted: nothing was written" in out
    models = store.data_dir / "models"
    assert not [p for p in models.iterdir() if "aborted" in p.name] if models.exists() else True
