"""Topic rights, the one table both brokers enforce (see docs/collector.md, Device identity).

- a device (username = its device id) may publish only ``facetrove/v1/<its id>/{sample,status,
  stats}`` and subscribe to / receive only ``facetrove/v1/<its id>/{config,model,receipt}``,
  each named exactly (no wildcards, so no ``#`` and no other device's topics);
- the collector's logins (ingest, web app) may use everything under ``facetrove/v1/``, including
  shared subscriptions; they are the only ones that may publish config, model and receipt.

The embedded broker calls ``allowed``; ``mosquitto_device_acl`` / ``mosquitto_collector_acl``
write the same rules as a Mosquitto ACL file (``pattern`` lines with ``%u``).
"""

from __future__ import annotations

from enum import Enum

from facetrove.wire.topics import ROOT

DEVICE_PUBLISHES = ("sample", "status", "stats")
DEVICE_READS = ("config", "model", "receipt")
#: Device names that would collide with the collector's own client ids or usernames.
RESERVED_PREFIX = "facetrove-"


class Role(str, Enum):
    COLLECTOR = "collector"
    DEVICE = "device"


class Action(str, Enum):
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    RECEIVE = "receive"


def _strip_share(topic: str) -> str:
    """``$share/<group>/<filter>`` -> ``<filter>`` (other strings unchanged)."""
    if topic.startswith("$share/"):
        parts = topic.split("/", 2)
        return parts[2] if len(parts) == 3 else ""
    return topic


def allowed(role: Role | None, username: str | None, action: Action, topic: str) -> bool:
    """May a client of ``role`` logged in as ``username`` do ``action`` on ``topic``?"""
    if role is Role.COLLECTOR:
        return _strip_share(topic).startswith(f"{ROOT}/")
    if role is not Role.DEVICE or not username:
        return False
    kinds = DEVICE_PUBLISHES if action is Action.PUBLISH else DEVICE_READS
    return topic in {f"{ROOT}/{username}/{kind}" for kind in kinds}


def mosquitto_device_acl() -> str:
    """The ACL file of Mosquitto's device listener (the same rules as ``allowed``)."""
    lines = [
        "# facetrove device rights, written by `facetrove collector device export-mosquitto`.",
        "# %u is the username = the device id; nothing else is granted (no #, no other device).",
    ]
    lines += [f"pattern write {ROOT}/%u/{kind}" for kind in DEVICE_PUBLISHES]
    lines += [f"pattern read {ROOT}/%u/{kind}" for kind in DEVICE_READS]
    return "\n".join(lines) + "\n"


def mosquitto_collector_acl(usernames: list[str]) -> str:
    """The ACL file of the collector listener: each collector login gets ``facetrove/v1/#``."""
    lines = [
        "# facetrove collector rights, written by `facetrove collector device export-mosquitto`."
    ]
    for name in usernames:
        lines += [f"user {name}", f"topic readwrite {ROOT}/#"]
    return "\n".join(lines) + "\n"
