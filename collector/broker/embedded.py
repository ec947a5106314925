"""amqtt running in its own thread and event loop inside the collector process.

MQTT 3.1.1 only (amqtt refuses v5 clients), password file authentication only (no anonymous
clients), bound to 127.0.0.1 unless told otherwise. Sessions and queued messages live in memory:
they survive a client's reconnect, not a restart of the collector (use Mosquitto with
persistence for that, see docs/collector.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

log = logging.getLogger("facetrove.broker")


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not start (port taken, bad address)."""


class EmbeddedBroker:
    """Start with ``start()``, stop with ``stop()``; ``url`` is where clients connect."""

    def __init__(
        self,
        host: str,
        port: int,
        password_file: Path,
        *,
        max_packet_bytes: int | None = None,
        registry_db: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.password_file = password_file
        self.max_packet_bytes = max_packet_bytes  # None: amqtt's own (MQTT's 256 MB)
        self.registry_db = registry_db
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "timeout_disconnect_delay": 0,
            # Collector logins from the password file, device logins from the registry (topic
            # rights: DurableBroker applies identity/rules.py); no anonymous clients. Logging
            # and $SYS plugins are left out: they cost throughput.
            "plugins": {
                "facetrove.collector.broker.auth.LoginPlugin": {
                    "password_file": str(self.password_file),
                    "registry_db": str(self.registry_db) if self.registry_db else None,
                },
            },
        }

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        """Start the broker thread and wait until it listens.

        Raises:
            EmbeddedBrokerError: it did not start (the cause is in the message).
        """
        from amqtt.errors import AMQTTError, BrokerError

        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="embedded-broker", daemon=True
        )
        self._thread.start()
        try:
            started.result(timeout)
        except TimeoutError:
            raise EmbeddedBrokerError(f"broker did not start within {timeout}s") from None
        except (OSError, BrokerError, AMQTTError) as exc:  # port taken, bad bind address, ...
            raise EmbeddedBrokerError(
                f"cannot start the embedded broker on {self.host}:{self.port}: {exc}"
            ) from None
        log.info("embedded broker listening on %s (MQTT 3.1.1, users only)", self.url)
        return self

    def _run(self, started: Future[None]) -> None:
        from facetrove.collector.broker.guards import GuardedBroker

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            self._broker = GuardedBroker(
                self._config(), loop=loop, max_packet_bytes=self.max_packet_bytes
            )
            await self._broker.start()
            if self.registry_db is not None:
                from facetrove.collector.broker.auth import watch_revocations

                self._watch = loop.create_task(watch_revocations(self._broker, self.registry_db))

        try:
            loop.run_until_complete(boot())
        except Exception as exc:  # reported to start()'s caller, which raises it
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down and join its thread."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or self._thread is None:
            return
        if loop.is_running():
            if self._watch is not None:
                loop.call_soon_threadsafe(self._watch.cancel)
            fut = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
            try:
                fut.result(timeout)
            except (TimeoutError, RuntimeError) as exc:
                log.warning("embedded broker shutdown: %s", exc)
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout)
        self._broker = None
        log.info("embedded broker stopped")
