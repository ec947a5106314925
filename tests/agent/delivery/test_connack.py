"""Which CONNACK refusals end the run (exit 3) and which are retried, by reason code, not text."""

from __future__ import annotations

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from facetrove.agent.delivery.publisher import refusal_is_final

FINAL = {
    "Client identifier not valid",  # v3.1.1 code 2
    "Bad user name or password",  # v3.1.1 code 4
    "Not authorized",  # v3.1.1 code 5
    "Banned",
    "Bad authentication method",
}


def _connack_names() -> list[str]:
    probe = ReasonCode(PacketTypes.CONNACK)
    return sorted(
        {
            name
            for by_name in probe.names.values()
            for name, packets in by_name.items()
            if PacketTypes.CONNACK in packets and name != "Success"
        }
    )


@pytest.mark.parametrize("name", _connack_names())
def test_refusal_is_final_only_for_credentials_and_identity(name: str) -> None:
    rc = ReasonCode(PacketTypes.CONNACK, aName=name)
    assert refusal_is_final(rc) == (name in FINAL), f"{name} ({rc.value})"


def test_every_final_name_is_a_connack_code() -> None:
    assert set(_connack_names()) >= FINAL
