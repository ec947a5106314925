"""The agent's exit summary counts what it could not read: a folder upload with broken files
must not look like a folder of faceless photos."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.agent.agent_process import start_agent
from tests.support.broker import free_port
from tests.support.data import face_file


def test_summary_counts_unreadable_files(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "happy").mkdir(parents=True)
    shutil.copy(face_file("single_face.jpg"), photos / "happy" / "a.jpg")
    (photos / "happy" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (photos / "happy" / "empty.png").write_bytes(b"")
    shutil.copy(face_file("single_face.mp4"), photos / "happy" / "clip.mp4")  # not read: counted
    url = f"mqtt://127.0.0.1:{free_port()}"  # nobody listens: samples stay in the outbox
    agent = start_agent(
        tmp_path / "a", url, "count-1", "--set", "run.drain_timeout_s=1", source=str(photos)
    )
    try:
        rc, summary = agent.wait(90)
    finally:
        agent.stop()
    assert rc == 3, agent.stderr[-2000:]
    assert summary["frames"] == 1 and summary["unreadable_files"] == 2, summary
    assert summary["skipped_videos"] == 1 and "happy/clip.mp4" in agent.stderr
