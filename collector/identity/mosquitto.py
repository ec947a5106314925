"""Mosquitto's password and ACL files from the device registry, reload, and kicking a device.

deploy/mosquitto.conf runs two listeners with ``per_listener_settings true``: the device
listener (``use_username_as_clientid true``, so a client id is always its login) reads
``devices.passwd`` / ``devices.acl``; the collector listener reads ``collector.passwd`` /
``collector.acl``. Mosquitto re-reads all four on SIGHUP (``systemctl reload mosquitto``), but a
client already connected keeps its connection: ``kick`` ends it by taking its client id over
from the collector listener with a clean session.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from facetrove.collector.identity.passwords import hash_password
from facetrove.collector.identity.rules import mosquitto_collector_acl, mosquitto_device_acl
from facetrove.collector.store import device_logins
from facetrove.collector.store.db import Database

FILES = ("devices.passwd", "devices.acl", "collector.passwd", "collector.acl")


class MosquittoError(RuntimeError):
    """The files could not be written, the reload failed or the broker could not be reached."""


@dataclass(frozen=True)
class Export:
    folder: Path
    devices: int


def export_files(db: Database, folder: Path, collector_logins: dict[str, str]) -> Export:
    """Write the four files into ``folder`` (each replaced atomically, mode 0640).

    ``collector_logins`` maps the collector's usernames to their plain passwords (hashed here).

    Raises:
        MosquittoError: the folder cannot be written.
    """
    active = device_logins.active_hashes(db)
    texts = {
        "devices.passwd": "".join(f"{name}:{h}\n" for name, h in sorted(active.items())),
        "devices.acl": mosquitto_device_acl(),
        "collector.passwd": "".join(
            f"{name}:{hash_password(pw)}\n" for name, pw in sorted(collector_logins.items())
        ),
        "collector.acl": mosquitto_collector_acl(sorted(collector_logins)),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            _write(folder / name, text)
    except OSError as exc:
        raise MosquittoError(f"cannot write the Mosquitto files in {folder}: {exc}") from None
    return Export(folder, len(active))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def reload(command: list[str]) -> None:
    """Run the configured reload command (e.g. ``systemctl reload mosquitto``).

    Raises:
        MosquittoError: it could not run or exited non-zero (its last line of output included).
    """
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MosquittoError(f"reload command {' '.join(command)!r} failed: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise MosquittoError(
            f"reload command {' '.join(command)!r} exited {proc.returncode}"
            + (f": {detail[-1]}" if detail else "")
        )


def kick(
    host: str,
    port: int,
    username: str,
    password: str | None,
    device_id: str,
    *,
    tls: bool = False,
    timeout: float = 10.0,
) -> None:
    """Disconnect ``device_id`` now and drop its session: connect from the collector's login with
    that client id and a clean session (the broker hands the id over), then leave.

    Raises:
        MosquittoError: the broker could not be reached or refused the collector's login.
    """
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
        client_id=device_id,
        clean_session=True,
        protocol=mqtt.MQTTv311,
    )
    client.username_pw_set(username, password)
    if tls:
        client.tls_set()
    done = threading.Event()
    result: list[str] = []

    def on_connect(_c: object, _u: object, _f: object, rc: object, _p: object = None) -> None:
        result.append(str(rc))
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise MosquittoError(f"cannot reach the broker at {host}:{port}: {exc}") from None
    client.loop_start()
    try:
        if not done.wait(timeout):
            raise MosquittoError(f"the broker at {host}:{port} did not answer within {timeout}s")
        if result[0] != "Success":
            raise MosquittoError(f"the broker refused the collector's login: {result[0]}")
    finally:
        client.disconnect()
        client.loop_stop()
