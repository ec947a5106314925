"""What the embedded broker refuses that amqtt 0.12 lets through.

Each is tried in tests/collector/test_broker_limits.py.

- **Packets over a size limit.** amqtt reads any packet whole (up to MQTT's 256 MB) and forwards
  it. Here the fixed header is checked first: a packet over ``max_packet_bytes`` closes the
  sender's connection before its body is read, as Mosquitto's ``max_packet_size`` does (MQTT
  3.1.1 has no other way to refuse a PUBLISH).
- **Retained messages where the protocol has none.** Only ``status``, ``config`` and ``model``
  are retained in docs/protocol.md. A PUBLISH with the retain flag on any other topic (a sample,
  a receipt, a topic outside facetrove/v1) is dropped whole: a retained sample would be handed
  to every ingest that subscribes, again after each restart.
- **Retained messages of other clients' subscriptions.** On a connect amqtt sends a client the
  retained messages matching *every* subscription in the broker, not only its own; here a client
  gets those of its own subscriptions only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import amqtt.mqtt.protocol.handler as amqtt_handler
from amqtt.mqtt.packet import MQTTFixedHeader

from facetrove.collector.broker.durable import DurableBroker
from facetrove.wire import WireError, parse_topic

log = logging.getLogger("facetrove.broker")

# Limit per event loop: each broker runs its own loop, and amqtt reads packets through one
# module-level function.
_LIMITS: dict[asyncio.AbstractEventLoop, int] = {}
_packet_class = amqtt_handler.packet_class


class PacketTooLarge(Exception):
    """A client sent a packet over the broker's limit; its connection is closed."""


def _limited_packet_class(fixed_header: MQTTFixedHeader) -> Any:
    limit = _LIMITS.get(asyncio.get_running_loop())
    if limit is not None and fixed_header.remaining_length > limit:
        log.warning(
            "refused a %d-byte packet (limit %d): connection closed",
            fixed_header.remaining_length,
            limit,
        )
        # Not an MQTTError: amqtt would skip it and read the body as the next packet.
        raise PacketTooLarge(f"{fixed_header.remaining_length} bytes > {limit}")
    return _packet_class(fixed_header)


amqtt_handler.packet_class = _limited_packet_class


def retainable(topic: str) -> bool:
    """Whether the protocol retains messages on ``topic`` (status, config, model)."""
    try:
        _, kind = parse_topic(topic)
    except WireError:
        return False
    return kind.retain


class GuardedBroker(DurableBroker):
    """``DurableBroker`` with a packet size limit, retained messages only where they belong, and
    retained messages sent only for a client's own subscriptions."""

    def __init__(self, config: dict[str, Any], *, max_packet_bytes: int | None, **kw: Any) -> None:
        super().__init__(config, **kw)
        if max_packet_bytes is not None:
            _LIMITS[self._loop] = max_packet_bytes

    async def shutdown(self) -> None:
        _LIMITS.pop(self._loop, None)
        await super().shutdown()

    async def _handle_message_delivery(self, client_session: Any, handler: Any, wait: Any) -> bool:
        message = wait.result()
        packet = getattr(message, "publish_packet", None)
        retained = packet is not None and packet.retain_flag and message.data
        if retained and not retainable(message.topic or ""):
            log.warning(
                "%s: dropped a retained message on %r (no retained messages there)",
                client_session.client_id,
                (message.topic or "")[:200],
            )
            return True
        result: bool = await super()._handle_message_delivery(client_session, handler, wait)
        return result

    async def retain_message(
        self, source_session: Any, topic_name: str | None, data: Any, qos: int | None = None
    ) -> None:
        # Last wills reach here without _handle_message_delivery.
        if source_session is not None and data and not retainable(topic_name or ""):
            return
        await super().retain_message(source_session, topic_name, data, qos)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        holders = self._subscriptions.get(subscription[0], ())
        if any(s.client_id == session.client_id for s, _ in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)
