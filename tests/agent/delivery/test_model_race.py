"""Two models announced in quick succession: the last announcement wins, not the last download
to finish. A real agent on the face clip, a real Mosquitto, a real HTTP server that holds the
first model's file half sent until the test lets it go (a slow link, a large file)."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.agent.agent_process import Agent, start_agent
from tests.agent.delivery_support import Listener, announce_model
from tests.collector.model_helpers import model_folder
from tests.support.broker import Mosquitto
from tests.support.data import looped_clip


class HeldServer:
    """Serves ``/device/models/<id>.onnx``; the ``held`` file stops after its first KiB until
    ``release`` is set."""

    def __init__(self, files: dict[str, bytes], held: str) -> None:
        self.files, self.held = files, held
        self.started, self.release = threading.Event(), threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1].removesuffix(".onnx")
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if name != server.held:
                    self.wfile.write(data)
                    return
                self.wfile.write(data[:1024])
                self.wfile.flush()
                server.started.set()
                server.release.wait(60)
                with contextlib.suppress(OSError):  # the agent hung up: it wants another file
                    self.wfile.write(data[1024:])

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, model_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/device/models/{model_id}.onnx"

    def hold_again(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _settled(agent: Agent, listener: Listener, stale: str, timeout: float = 60) -> None:
    """Wait until the agent dealt with the stale download (dropped it, or swapped to it)."""
    assert listener.wait(
        lambda: (
            f"pre-label model is now {stale}" in agent.stderr
            or f"model {stale}: dropped" in agent.stderr
        ),
        timeout,
    ), agent.stderr[-3000:]


def test_the_last_announced_model_wins_over_a_slower_download(tmp_path: Path) -> None:
    files = {
        name: (model_folder(tmp_path / "models", name) / "model.onnx").read_bytes()
        for name in ("model-x", "model-y")
    }
    server = HeldServer(files, held="model-x")
    broker = Mosquitto(tmp_path / "mq").start()
    device = "race-1"
    listener = Listener(broker.port, device)
    clip = looped_clip(tmp_path / "clip.mp4", 60)
    agent = start_agent(
        tmp_path / "a", broker.url, device, "--max-fps", "4",
        "--set", f"model_updates.collector_url=http://127.0.0.1:{server.port}", source=str(clip),
    )  # fmt: skip

    def last_model() -> str | None:
        return listener.statuses[-1].get("model_id") if listener.statuses else None

    try:
        assert listener.wait(lambda: len(listener.samples) > 0, 60), agent.stderr[-2000:]

        # X is announced and starts downloading slowly; Y is announced after it and arrives.
        announce_model(broker.port, device, "model-x", files["model-x"], server.url("model-x"))
        assert server.started.wait(30), agent.stderr[-2000:]
        announce_model(broker.port, device, "model-y", files["model-y"], server.url("model-y"))
        assert listener.wait(lambda: last_model() == "model-y", 60), agent.stderr[-2000:]
        server.release.set()  # X's file now arrives in full, after Y
        _settled(agent, listener, "model-x")
        n = len(listener.order)
        assert listener.wait(lambda: len(listener.order) > n + 2, 60)
        prelabels = [listener.samples[s].header.prelabel for s in listener.order[n + 1 :]]
        tagged = {p.model_id for p in prelabels if p is not None}
        assert tagged == {"model-y"} and last_model() == "model-y", agent.stderr[-3000:]
        assert not listener.statuses[-1].get("model_error")

        # The same with the model in use announced after X (a rollback to it): no download,
        # and X, arriving later, does not replace it either.
        server.hold_again()
        announce_model(broker.port, device, "model-x", files["model-x"], server.url("model-x"))
        assert server.started.wait(30), agent.stderr[-2000:]
        announce_model(broker.port, device, "model-y", files["model-y"], server.url("model-y"))
        agent.wait_for("model model-y announced: the file in use", 30)
        server.release.set()
        before = agent.stderr.count("model model-x: dropped")
        assert listener.wait(
            lambda: (
                "pre-label model is now model-x" in agent.stderr
                or agent.stderr.count("model model-x: dropped") > before
            ),
            60,
        ), agent.stderr[-3000:]
        n = len(listener.order)
        assert listener.wait(lambda: len(listener.order) > n + 2, 60)
        assert "pre-label model is now model-x" not in agent.stderr
        assert last_model() == "model-y" and agent.proc.poll() is None
    finally:
        agent.stop()
        listener.close()
        broker.stop()
        server.close()
