"""Three fixes to amqtt 0.12: QoS 1 messages to a persistent session are never dropped, and a
client with a wrong password cannot touch another client's session.

Seen here (tests/collector/test_broker.py): amqtt waits only 5 s for a subscriber's PUBACK and
then forgets the message, and when a subscriber's connection dies it forgets every message that
was in flight to it. Ingest acknowledges only after a durable commit, and amqtt pushes its whole
backlog at once after a reconnect, so both happen in normal operation. Here:

- ``PatientHandler`` waits for the PUBACK as long as the connection lives;
- ``DurableBroker`` puts the messages still unacknowledged when a connection ends back in the
  session's offline queue, which amqtt delivers when the client comes back;
- ``PatientHandler.init_from_connect`` checks the password as soon as the CONNECT is read. amqtt
  itself looks up the session of the CONNECT's client id first (handing a live session over to
  the new connection, copying its credentials into it, or deleting it for a clean session) and
  checks the password only after that, so a wrong password could knock ingest off the broker,
  delete its queued samples, or, racing a reconnect, be accepted.

Sessions still live in memory: a restart of the collector loses what the broker held. Use
Mosquitto with persistence where that matters (docs/collector.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import amqtt.broker
from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.contexts import Action as AmqttAction
from amqtt.errors import MQTTError
from amqtt.events import MQTTEvents
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.constants import QOS_1
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import OUTGOING

from facetrove.collector.broker.auth import role_of
from facetrove.collector.identity.rules import Action, Role, allowed


async def _refuse(plugins_manager: Any, writer: Any) -> None:
    connack = ConnackPacket.build(0, NOT_AUTHORIZED)
    await plugins_manager.fire_event(MQTTEvents.PACKET_SENT, packet=connack)
    await connack.to_stream(writer)
    await writer.close()


_ACTIONS = {
    AmqttAction.PUBLISH: Action.PUBLISH,
    AmqttAction.SUBSCRIBE: Action.SUBSCRIBE,
    AmqttAction.RECEIVE: Action.RECEIVE,
}


class PatientHandler(BrokerProtocolHandler):  # type: ignore[misc]
    """Waits for a QoS 1 PUBACK without amqtt's 5-second limit; authenticates before anything."""

    @classmethod
    async def init_from_connect(
        cls, reader: Any, writer: Any, plugins_manager: Any, loop: Any = None
    ) -> tuple[BrokerProtocolHandler, Any]:
        handler, session = await super().init_from_connect(reader, writer, plugins_manager, loop)
        # The same rule as Broker._authenticate: every auth plugin that answers says yes, and
        # at least one answers (a client without a username gets no answer: refused).
        returns = await plugins_manager.map_plugin_auth(session=session) or {}
        results = [r for r in returns.values() if r is not None]
        if not results or not all(results):
            await _refuse(plugins_manager, writer)
            raise MQTTError(f"client {session.client_id!r}: not authorised (username or password)")
        role = role_of(session)
        # amqtt publishes a last will without asking the topic plugins: check it here, as
        # Mosquitto does, so no one can leave a "will" on another device's status or config.
        will = session.will_topic or "" if session.will_flag else None
        if will is not None and not allowed(role, session.username, Action.PUBLISH, will):
            await _refuse(plugins_manager, writer)
            raise MQTTError(f"client {session.client_id!r}: not authorised (last will {will!r})")
        if role is Role.DEVICE:
            # Client ids are tied to logins (as Mosquitto's use_username_as_clientid): a device
            # can only ever resume or take over its own session, never ingest's.
            session.client_id = session.username
        return handler, session

    async def _handle_qos1_message_flow(self, app_message: Any) -> None:
        if app_message.direction != OUTGOING or self.session is None:
            await super()._handle_qos1_message_flow(app_message)
            return
        session = self.session
        session.inflight_out[app_message.packet_id] = app_message
        dup = app_message.publish_packet is not None
        packet = app_message.build_publish_packet(dup=dup)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._puback_waiters[app_message.packet_id] = waiter
        try:
            await self._send_packet(packet)
            app_message.publish_packet = packet
            app_message.puback_packet = await waiter
            session.inflight_out.pop(app_message.packet_id, None)
        finally:
            # On cancellation (connection closed) the message stays in inflight_out for
            # DurableBroker to queue again.
            self._puback_waiters.pop(app_message.packet_id, None)


class DurableBroker(Broker):  # type: ignore[misc]
    """amqtt's broker that re-queues unacknowledged QoS 1 messages when a client drops."""

    async def _handle_client_session(self, *args: Any) -> None:
        # amqtt's signature: (reader, writer, client_session, handler, server, listener_name)
        handler = args[3]
        if type(handler) is BrokerProtocolHandler:  # pragma: no cover - see the module end
            handler.__class__ = PatientHandler  # same state, patient QoS 1 flow
        await super()._handle_client_session(*args)

    async def _topic_filtering(self, session: Any, topic: str, action: AmqttAction) -> bool:
        # The topic rights of identity/rules.py, called directly: amqtt's plugin route starts
        # an asyncio task per check (every publish and every delivery), which cost a third of
        # the broker's throughput here.
        return allowed(role_of(session), session.username, _ACTIONS[action], topic)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        # amqtt sends retained messages without asking the topic plugins whether this session
        # may receive them (and, on connect, for every client's subscriptions): filter first.
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        if handler is None:
            return
        tasks = []
        for topic, retained in list(self._retained_messages.items()):
            if not self._matches(topic, topic_filter):
                continue
            if not await self._topic_filtering(session, topic=topic, action=AmqttAction.RECEIVE):
                continue
            tasks.append(
                asyncio.ensure_future(
                    handler.mqtt_publish(
                        retained.topic, retained.data, min(qos, retained.qos or qos), retain=True
                    )
                )
            )
        if tasks:
            await asyncio.wait(tasks)

    async def _stop_handler(self, handler: BrokerProtocolHandler) -> None:
        session = handler.session
        await super()._stop_handler(handler)
        if session is None or session.clean_session or session.is_anonymous:
            return
        pending = [m for m in session.inflight_out.values() if m.puback_packet is None]
        session.inflight_out.clear()
        for message in pending:
            if message.qos == QOS_1:
                await session.retained_messages.put(
                    RetainedApplicationMessage(None, message.topic, message.data, message.qos)
                )
        if pending:
            self.logger.info(
                "%s: %d unacknowledged message(s) queued again", session.client_id, len(pending)
            )


# amqtt's Broker reads the CONNECT through the module-level name BrokerProtocolHandler; point it
# at ours so the password is checked before any session is looked up. This module is imported
# only by the embedded broker, in the process (or child process) that runs it.
amqtt.broker.BrokerProtocolHandler = PatientHandler
