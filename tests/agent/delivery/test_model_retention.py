"""Retention of downloaded model files on the agent (issue 14, item 5): beyond the current model
and the one before it (``model_updates.keep``, 2) the files are deleted, and what was deleted is
counted by reason (kept across restarts), logged and reported in status and stats."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from facetrove import wire
from facetrove.agent.delivery.model_retention import DeletedModels, prune
from tests.agent.agent_process import start_agent
from tests.agent.delivery_support import Listener, publish_retained
from tests.support.broker import Mosquitto


def _files(folder: Path, n: int) -> list[Path]:
    made = []
    for i in range(n):
        path = folder / f"{i}.onnx"
        path.write_bytes(b"x" * (i + 1))
        os.utime(path, (1000 + i, 1000 + i))
        made.append(path)
    return made


def test_prune_keeps_the_newest_model_files(tmp_path: Path) -> None:
    _files(tmp_path, 5)
    (tmp_path / "x.part").write_bytes(b"half")
    removed = prune(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3.onnx", "4.onnx"]
    assert sorted((reason, path.name, size) for reason, path, size in removed) == [
        ("partial", "x.part", 4),
        ("retention", "0.onnx", 1),
        ("retention", "1.onnx", 2),
        ("retention", "2.onnx", 3),
    ]


def test_the_model_in_use_is_never_deleted(tmp_path: Path) -> None:
    """The model in use may be the oldest file (a rollback to a file touched long ago, a clock
    that jumped): it stays, and keep still bounds the folder."""
    files = _files(tmp_path, 4)
    prune(tmp_path, 2, current=files[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.onnx", "3.onnx"]


def test_deleted_files_are_counted_by_reason_across_restarts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counts = DeletedModels(tmp_path)
    assert counts.total == 0 and counts.by_reason() == {
        "retention": 0,
        "rejected": 0,
        "partial": 0,
    }
    counts.add([("retention", tmp_path / "a.onnx", 10), ("partial", tmp_path / "b.part", 3)])
    counts.add([("rejected", tmp_path / "c.onnx", 5)])
    again = DeletedModels(tmp_path)  # the next run
    assert again.by_reason() == {"retention": 1, "rejected": 1, "partial": 1}
    assert again.total == 3 and again.bytes == 18
    (tmp_path / DeletedModels.FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING):
        damaged = DeletedModels(tmp_path)
    assert damaged.total == 0 and "counted from zero" in caplog.text


@pytest.mark.slow
def test_a_running_agent_keeps_the_current_and_previous_model_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    """Tried: a real agent on the face clip, a partial download left by a crash in its models
    folder, then three models announced in turn (v2, v3, v4) over real HTTP. Kept: v4 (in use)
    and v3 (the one before); v2 and the partial file are deleted, counted (2), logged, and
    reported in the retained status and in stats."""
    import onnx

    from facetrove import models
    from tests.agent.delivery_support import FileServer

    served = tmp_path / "served" / "device" / "models"
    served.mkdir(parents=True)
    shipped = onnx.load(str(models.path(models.EMOTION_ONNX)))
    variants: dict[str, bytes] = {}
    for rev in ("2", "3", "4"):
        shipped.metadata_props.add(key="revision", value=rev)  # other bytes, same network
        onnx.save(shipped, str(served / f"emotion-v{rev}.onnx"))
        variants[f"emotion-v{rev}"] = (served / f"emotion-v{rev}.onnx").read_bytes()
    server = FileServer(tmp_path / "served")
    broker = Mosquitto(tmp_path / "mq").start()
    device = "model-keep-1"
    listener = Listener(broker.port, device)
    workdir = tmp_path / "a"
    (workdir / "models").mkdir(parents=True)
    (workdir / "models" / ("f" * 64 + ".part")).write_bytes(b"half a model")

    def announce(model_id: str) -> None:
        data = variants[model_id]
        ann = wire.ModelAnnouncement(
            model_id=model_id,
            sha256=hashlib.sha256(data).hexdigest(),
            url=server.url(f"device/models/{model_id}.onnx"),
            size=len(data),
            classes=list(models.EMOTION_CLASSES),
        )
        publish_retained(broker.port, device, wire.Kind.MODEL, ann.model_dump_json().encode())

    collector = f"model_updates.collector_url=http://127.0.0.1:{server.port}"
    agent = start_agent(workdir, broker.url, device, "--max-fps", "4", "--set", collector)
    try:
        for model_id in variants:
            announce(model_id)
            agent.wait_for(f"pre-label model is now {model_id}", 30)
        kept = {p.name for p in (workdir / "models").glob("*.onnx")}
        assert kept == {
            hashlib.sha256(variants[m]).hexdigest() + ".onnx" for m in ("emotion-v3", "emotion-v4")
        }
        assert not list((workdir / "models").glob("*.part"))
        assert "model files deleted" in agent.stderr
        assert listener.wait(
            lambda: any(
                s.get("model_id") == "emotion-v4" and s.get("model_files_deleted") == 2
                for s in listener.statuses
            ),
            10,
        ), listener.statuses[-2:]
        assert listener.wait(
            lambda: any(s.get("model_files_deleted") == 2 for s in listener.stats), 10
        ), listener.stats[-2:]
        rc, _ = agent.wait(90)
        assert rc == 0, agent.stderr[-3000:]
        assert DeletedModels(workdir / "models").by_reason() == {
            "retention": 1,
            "rejected": 0,
            "partial": 1,
        }
    finally:
        agent.stop()
        listener.close()
        broker.stop()
        server.close()
