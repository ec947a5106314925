"""Ingest tells devices their model and config again: the retained ``model`` announcements and
``config`` messages are republished where a device could otherwise miss them, so agents converge
without an operator.

- On every (re)subscription, i.e. as ``collector serve`` starts and after a broker restart (the
  embedded broker keeps retained messages in memory only), every known device's assignment and
  every saved device config (pause included). An agent ignores a config revision it has already
  taken, so the repeat changes nothing for a running one; one that starts later gets it.
- On a device's ``online`` status that names another model than its assignment, that device's
  assignment: a device added after a rollout (its first status) or an agent restarted on its
  local model. A status with a ``model_error`` is not answered (the device refused that model;
  telling it again would make it fetch and refuse again): a rollout or rollback decides.

Devices with no assignment and no rollout to all are told nothing: they run their own model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from facetrove import wire
from facetrove.collector.config import CollectorConfig
from facetrove.collector.rollout import Publish, publish_assignments
from facetrove.collector.store import devices
from facetrove.collector.store import models as registry
from facetrove.collector.store.db import Database, StoreError

log = logging.getLogger("facetrove.ingest")


def announce_all(db: Database, config: CollectorConfig, publish: Publish) -> None:
    """Republish every known device's assigned model (retained)."""
    try:
        if not registry.assignments(db):
            return
        result = publish_assignments(db, config, publish)
    except StoreError as exc:
        log.error("could not read the model assignments to announce them: %s", exc)
        return
    if result.devices:
        log.info("announced the assigned model to %d device(s)", len(result.devices))


def announce_configs(db: Database, publish: Publish) -> None:
    """Republish every device's saved config (retained)."""
    try:
        saved = devices.saved_configs(db)
    except StoreError as exc:
        log.error("could not read the device configs to announce them: %s", exc)
        return
    told = 0
    for device, payload in saved:
        try:
            publish(wire.topic(device, wire.Kind.CONFIG), payload.encode())
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("could not announce the config of device %s again: %s", device, exc)
            continue
        told += 1
    if told:
        log.info("announced the saved config to %d device(s)", told)


def converge(
    db: Database, config: CollectorConfig, statuses: Sequence[wire.Status], publish: Publish
) -> list[str]:
    """Republish the assignment of each device whose online status names another model; the
    devices told."""
    try:
        due = sorted(
            {
                s.device_id
                for s in statuses
                if s.state == "online"
                and not s.model_error
                and registry.model_for(db, s.device_id) not in (None, s.model_id)
            }
        )
        if not due:
            return []
        result = publish_assignments(db, config, publish, only=due)
    except StoreError as exc:
        log.error("could not read the model assignments of %d device(s): %s", len(statuses), exc)
        return []
    for device in result.devices:
        log.info("device %s runs another model than its assignment: announced it again", device)
    return result.devices
