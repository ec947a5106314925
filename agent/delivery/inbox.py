"""What the collector sends this device (config, model), dispatched per topic.

The publisher owns the MQTT connection and delivers; an :class:`Inbox` names the topics to
subscribe and handles what arrives on them, one paho callback per topic
(``message_callback_add``), so a new collector -> agent message is one more route, not another
branch in a shared ``on_message``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import paho.mqtt.client as mqtt

from facetrove import wire

log = logging.getLogger(__name__)

_M = TypeVar("_M", wire.AgentConfig, wire.ModelAnnouncement)
_Callback = Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None]


class Inbox(Protocol):
    """Incoming messages of one device: which topics, and a callback on each."""

    def topics(self) -> list[str]:
        """The topics to subscribe (QoS 1) on every connect."""
        ...

    def attach(self, client: mqtt.Client) -> None:
        """Register one callback per topic on ``client`` (before it connects)."""
        ...


class CollectorInbox:
    """The retained ``config`` and ``model`` messages the collector sends one device.

    A message is decoded by ``wire``; a bad one is logged and dropped. A handler runs in paho's
    network thread: one that raises is logged, and the connection (and delivery) goes on.

    Args:
        device_id: this device; only its own topics are routed.
        on_config, on_model: handlers; a kind without one is not subscribed.
        after: called after every handled message (the publisher wakes its delivery thread,
            since a config may have paused or resumed delivery).
    """

    def __init__(
        self,
        device_id: str,
        *,
        on_config: Callable[[wire.AgentConfig], None] | None = None,
        on_model: Callable[[wire.ModelAnnouncement], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        self.device_id = device_id
        self._after = after
        self._routes: dict[str, _Callback] = {}
        if on_config is not None:
            self._route(wire.Kind.CONFIG, wire.AgentConfig, on_config)
        if on_model is not None:
            self._route(wire.Kind.MODEL, wire.ModelAnnouncement, on_model)

    def _route(self, kind: wire.Kind, expected: type[_M], handler: Callable[[_M], None]) -> None:
        topic = wire.topic(self.device_id, kind)

        def callback(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            if not msg.payload:
                return  # a cleared retained message
            try:
                message = wire.decode_json_message(kind, bytes(msg.payload))
            except wire.WireError as exc:
                log.warning("ignored a bad %s message: %s", msg.topic, exc)
                return
            if not isinstance(message, expected):
                return
            try:
                handler(message)
            except Exception:  # top of our part of paho's loop: the connection must survive
                log.exception("handling the %s message failed; it is ignored", msg.topic)
                return
            if self._after is not None:
                self._after()

        self._routes[topic] = callback

    def topics(self) -> list[str]:
        """This device's ``config`` and ``model`` topics (those with a handler)."""
        return list(self._routes)

    def attach(self, client: mqtt.Client) -> None:
        """One callback per topic; anything else that arrives (amqtt forwards retained
        messages of other clients' subscriptions) falls to ``on_message`` and is dropped."""
        for topic, callback in self._routes.items():
            client.message_callback_add(topic, callback)
        client.on_message = _ignore


def _ignore(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
    log.debug("ignored a message on %s (not one of this device's topics)", msg.topic)
