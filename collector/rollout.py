"""Registering trained models and rolling them out to devices over the retained ``model`` topic.

The store is the truth (collector/store/models.py): a rollout is committed first, then the
retained ``model`` announcement is published to every device it changes. A broker that is down
loses nothing: the rollout stays recorded and ``publish_assignments`` sends it again. Only the
collector's broker login may publish on ``model`` topics (the ACL), so an announcement a device
receives comes from here; the agent still checks the URL, the size and the sha256.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from facetrove import wire
from facetrove.collector.config import CollectorConfig
from facetrove.collector.store import device_logins, devices
from facetrove.collector.store import models as registry
from facetrove.collector.store.db import Database
from facetrove.collector.train import folder

#: Publishes one retained announcement: (topic, payload); raises PublishError (a RuntimeError).
Publish = Callable[[str, bytes], None]


class RolloutError(Exception):
    """A rollout that cannot happen; the message is meant for the user."""


@dataclass
class RolloutResult:
    """What a rollout did: the devices announced to, and the ones the broker did not take."""

    model_id: str
    devices: list[str]
    failed: dict[str, str] = field(default_factory=dict)


def register_folder(db: Database, data_dir: Path, model_id: str) -> bool:
    """Register the finished model folder ``models/<model_id>`` as a candidate (idempotent).

    Raises:
        folder.ModelFolderError: no such finished folder.
        registry.ModelExists: the id is registered with other bytes.
    """
    path = folder.model_dir(data_dir, model_id)
    onnx = path / folder.ONNX_FILE
    card = folder.load_card(data_dir, model_id)
    return registry.register(
        db,
        model_id,
        sha256=folder.file_sha256(onnx),
        size=onnx.stat().st_size,
        parent=card.get("parent", {}).get("id"),
        version_id=card.get("version", {}).get("id"),
        classes=list(card.get("classes", [])),
        metrics=dict(card.get("metrics", {})),
        created_at=str(card.get("created_at", "")),
    )


def ensure_bundled(db: Database) -> None:
    """The shipped model as the registry entry ``bundled`` (its file as installed now)."""
    from facetrove import models

    path = models.path(models.EMOTION_ONNX)
    registry.ensure_bundled(
        db, sha256=folder.file_sha256(path), size=path.stat().st_size,
        classes=models.EMOTION_CLASSES,
    )  # fmt: skip


def sync_folders(db: Database, data_dir: Path) -> list[str]:
    """Register the bundled model and every finished model folder the registry does not know
    yet; the ids of the folders registered."""
    ensure_bundled(db)
    known = {m.id for m in registry.list_models(db)}
    added = []
    for info in folder.list_models(data_dir):
        if info.id not in known:
            try:
                if register_folder(db, data_dir, info.id):
                    added.append(info.id)
            except (folder.ModelFolderError, OSError, ValueError):
                continue  # a folder without a readable card is not a model to roll out
    return added


def known_devices(db: Database) -> list[str]:
    """Every device a rollout to all reaches: active logins and devices that have reported (not
    the device id under which `collector import` stores imported faces: no agent runs there)."""
    from facetrove.collector.importer.rows import DEVICE_ID as IMPORTED

    active = {login.device_id for login in device_logins.list_logins(db) if login.active}
    return sorted((active | set(devices.device_ids(db))) - {IMPORTED})


def announcement(config: CollectorConfig, model: registry.Model) -> wire.ModelAnnouncement:
    """The retained ``model`` message for ``model``."""
    from facetrove.collector.web.device_files import model_url

    return wire.ModelAnnouncement(
        model_id=model.id,
        sha256=model.sha256,
        url=model_url(config, model.id),
        size=model.size,
        classes=model.classes,
    )


def check_files(data_dir: Path, model: registry.Model) -> None:
    """Raise RolloutError unless the model's file is on disk with the registered sha256."""
    try:
        onnx = folder.onnx_path(data_dir, model.id)
        sha = folder.file_sha256(onnx)
    except (folder.ModelFolderError, OSError) as exc:
        raise RolloutError(f"model {model.id}: its file is missing ({exc})") from None
    if sha != model.sha256:
        raise RolloutError(
            f"model {model.id}: {onnx} has sha256 {sha[:12]}..., registered {model.sha256[:12]}..."
            "; the file changed after training, not rolling it out"
        )


def rollout(
    db: Database,
    config: CollectorConfig,
    model_id: str,
    device_ids: Sequence[str] | None,
    publish: Publish,
    *,
    action: str = "rollout",
) -> RolloutResult:
    """Assign ``model_id`` to ``device_ids`` (None: all devices) and announce it to them.

    Raises:
        RolloutError: unknown model, unknown device, no devices, or a changed file.
    """
    try:
        model = registry.get(db, model_id)
    except registry.UnknownModel:
        known = ", ".join(m.id for m in registry.list_models(db)) or "none yet"
        raise RolloutError(f"no registered model {model_id!r} (known: {known})") from None
    check_files(Path(config.data_dir), model)
    everyone = known_devices(db)
    if device_ids is not None:
        unknown = sorted(set(device_ids) - set(everyone))
        if unknown:
            raise RolloutError(
                f"unknown device(s) {', '.join(unknown)} (known: {', '.join(everyone) or 'none'})"
            )
        if not device_ids:
            raise RolloutError("no devices given")
    registry.assign(db, model_id, device_ids, action)
    return publish_assignments(db, config, publish, only=device_ids or everyone, model=model_id)


def publish_assignments(
    db: Database,
    config: CollectorConfig,
    publish: Publish,
    *,
    only: Sequence[str] | None = None,
    model: str | None = None,
) -> RolloutResult:
    """Publish each device's assigned model (retained); failures are collected, not raised."""
    result = RolloutResult(model or "", [])
    cache: dict[str, bytes] = {}
    for device in only if only is not None else known_devices(db):
        model_id = registry.model_for(db, device)
        if model_id is None:
            continue
        if model_id not in cache:
            cache[model_id] = (
                announcement(config, registry.get(db, model_id)).model_dump_json().encode()
            )
        try:
            publish(wire.topic(device, wire.Kind.MODEL), cache[model_id])
        except (OSError, RuntimeError, ValueError) as exc:
            result.failed[device] = str(exc)
            continue
        result.devices.append(device)
    return result
