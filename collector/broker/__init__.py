"""The embedded MQTT broker for a one-machine start (amqtt, MQTT 3.1.1, no anonymous clients)."""

from collector.broker.credentials import Credentials, ensure_credentials
from collector.broker.embedded import EmbeddedBroker, EmbeddedBrokerError

__all__ = ["Credentials", "EmbeddedBroker", "EmbeddedBrokerError", "ensure_credentials"]
