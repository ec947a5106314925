"""The embedded MQTT broker for a one-machine start (amqtt, MQTT 3.1.1, no anonymous clients)."""

from facetrove.collector.broker.credentials import Credentials, ensure_credentials
from facetrove.collector.broker.embedded import EmbeddedBroker, EmbeddedBrokerError
from facetrove.collector.broker.process import BrokerProcess

__all__ = [
    "BrokerProcess",
    "Credentials",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "ensure_credentials",
]
