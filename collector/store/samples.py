"""Sample rows: turning a decoded wire sample into a row, idempotent inserts, look-ups.

Used by ingest (many rows per transaction) and by the web and versions code (look-ups). A sample
id is stored once however often it arrives (``INSERT OR IGNORE``); a crop whose bytes were already
stored under another id is kept but points at the earlier sample through ``duplicate_of``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import Database
from facetrove.wire import Sample

#: The one rule for what the review queue, the dashboard and the versions hold: a sample whose
#: crop bytes were already stored under another id (the same upload twice, the demo twice, an
#: agent re-run) is kept for its provenance (``duplicate_of``) but neither queued nor counted.
#: Every insert goes through :func:`insert_samples`, which sets ``duplicate_of``.
COUNTED = "duplicate_of IS NULL"

SAMPLE_COLUMNS = (
    "id",
    "device_id",
    "captured_at",
    "received_at",
    "source",
    "frame_width",
    "frame_height",
    "box_xmin",
    "box_ymin",
    "box_xmax",
    "box_ymax",
    "detector",
    "detector_score",
    "track_id",
    "blur",
    "brightness",
    "face_px",
    "yaw",
    "prelabel_model_id",
    "prelabel_model_sha256",
    "prelabel_label",
    "prelabel_confidence",
    "prelabel_margin",
    "prelabel_probs",
    "provided_label",
    "crop_sha256",
    "crop_width",
    "crop_height",
    "crop_bytes",
    "frame_sha256",
    "frame_image_width",
    "frame_image_height",
    "duplicate_of",
    "state",
    "selection",
    "tag",
    "import_key",
    "clock_skew_s",
    "subject",
)

_INSERT_SQL = (
    f"INSERT OR IGNORE INTO samples ({', '.join(SAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in SAMPLE_COLUMNS)})"
)


class SampleNotFound(LookupError):
    """No sample with the given id."""


@dataclass
class InsertResult:
    """What one ``insert_samples`` call did."""

    inserted: list[str] = field(default_factory=list)  # ids that are new rows
    already: list[str] = field(default_factory=list)  # ids already stored (redelivery)
    duplicates: dict[str, str] = field(default_factory=dict)  # new id -> earlier id, same crop
    clock_skewed: list[str] = field(default_factory=list)  # new ids flagged clock_skew_s


#: A capture time more than this ahead of the collector's clock is flagged (seconds).
MAX_CLOCK_AHEAD_S = 300.0
#: A capture time before this is flagged: a device clock that was never set (boards without a
#: real-time clock count from 1970 until they reach a time server).
CLOCK_FLOOR = datetime(2000, 1, 1, tzinfo=timezone.utc)


def clock_skew(captured_at: datetime, received_at: str) -> float | None:
    """Seconds ``captured_at`` lies after ``received_at`` if the device's clock looks wrong
    (more than ``MAX_CLOCK_AHEAD_S`` ahead, or before ``CLOCK_FLOOR``), else None.

    A negative value is a capture time before 2000; an old but plausible time is no skew
    (an agent's outbox can hold samples for days).
    """
    received = datetime.fromisoformat(received_at)
    ahead = (captured_at - received).total_seconds()
    return round(ahead, 3) if ahead > MAX_CLOCK_AHEAD_S or captured_at < CLOCK_FLOOR else None


def iso(dt: datetime) -> str:
    """ISO 8601 text of an aware datetime, normalised to UTC with a ``+00:00`` offset."""
    return str(dt.astimezone(timezone.utc).isoformat())


def row_from_sample(
    sample: Sample, received_at: str, *, check_clock: bool = False
) -> dict[str, Any]:
    """The ``samples`` row for a decoded sample (state ``pending``, no duplicate link yet).

    ``check_clock``: flag a device clock that looks wrong (``clock_skew_s``, see
    ``clock_skew``); ingest does, an import (which sets its own times) does not.
    """
    h = sample.header
    pre = h.prelabel
    confidence = margin = None
    if pre is not None:
        ranked = sorted(pre.probs.values(), reverse=True)
        confidence = ranked[0]
        margin = ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)
    return {
        "id": h.sample_id,
        "device_id": h.device_id,
        "captured_at": iso(h.captured_at),
        "received_at": received_at,
        "source": h.source,
        "frame_width": h.frame_width,
        "frame_height": h.frame_height,
        "box_xmin": h.box.xmin,
        "box_ymin": h.box.ymin,
        "box_xmax": h.box.xmax,
        "box_ymax": h.box.ymax,
        "detector": h.detector,
        "detector_score": h.detector_score,
        "track_id": h.track_id,
        "blur": h.quality.blur,
        "brightness": h.quality.brightness,
        "face_px": h.quality.face_px,
        "yaw": h.quality.yaw,
        "prelabel_model_id": pre.model_id if pre else None,
        "prelabel_model_sha256": pre.model_sha256 if pre else None,
        "prelabel_label": pre.label if pre else None,
        "prelabel_confidence": confidence,
        "prelabel_margin": margin,
        "prelabel_probs": json.dumps(pre.probs, sort_keys=True) if pre else None,
        "provided_label": h.provided_label,
        "crop_sha256": h.crop.sha256,
        "crop_width": h.crop.width,
        "crop_height": h.crop.height,
        "crop_bytes": h.crop.length,
        "frame_sha256": h.frame.sha256 if h.frame else None,
        "frame_image_width": h.frame.width if h.frame else None,
        "frame_image_height": h.frame.height if h.frame else None,
        "duplicate_of": None,
        "state": "pending",
        "selection": h.selection,
        "clock_skew_s": clock_skew(h.captured_at, received_at) if check_clock else None,
    }


def insert_samples(db: Database, rows: Iterable[Mapping[str, Any]]) -> InsertResult:
    """Insert sample rows idempotently. Call inside a transaction; this does not commit.

    Rows are handled in order, so a duplicate crop within the same batch links to the first one.
    Each new row adds one to its device's ``samples`` count (creating the device row if needed).
    """
    result = InsertResult()
    conn = db.conn
    per_device: dict[str, tuple[int, str]] = {}
    for row in rows:
        earlier = conn.execute(
            "SELECT id FROM samples WHERE crop_sha256 = ? AND id != ? ORDER BY id LIMIT 1",
            (row["crop_sha256"], row["id"]),
        ).fetchone()
        values = dict(row)
        values["duplicate_of"] = earlier[0] if earlier else None
        cur = conn.execute(_INSERT_SQL, [values.get(c) for c in SAMPLE_COLUMNS])
        if cur.rowcount == 1:
            result.inserted.append(row["id"])
            if earlier:
                result.duplicates[row["id"]] = earlier[0]
            if row.get("clock_skew_s") is not None:
                result.clock_skewed.append(row["id"])
            count, _ = per_device.get(row["device_id"], (0, ""))
            per_device[row["device_id"]] = (count + 1, row["received_at"])
        else:
            result.already.append(row["id"])
    for device_id, (count, seen) in per_device.items():
        conn.execute(
            "INSERT INTO devices (id, first_seen, last_seen, samples) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET samples = COALESCE(samples, 0) + excluded.samples, "
            "last_seen = MAX(COALESCE(last_seen, ''), excluded.last_seen)",
            (device_id, seen, seen, count),
        )
    return result


def get_sample(db: Database, sample_id: str) -> dict[str, Any]:
    """The row of one sample. Raises ``SampleNotFound``."""
    cur = db.conn.execute("SELECT * FROM samples WHERE id = ?", (sample_id,))
    row = cur.fetchone()
    if row is None:
        raise SampleNotFound(f"no sample with id {sample_id!r}")
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def sample_count(db: Database, state: str | None = None) -> int:
    """Number of stored samples, optionally only those in ``state``."""
    if state is None:
        return int(db.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    sql = "SELECT COUNT(*) FROM samples WHERE state = ?"
    return int(db.conn.execute(sql, (state,)).fetchone()[0])


def confirmed_samples(
    db: Database,
    classes: Sequence[str],
    tags: Sequence[str] | None = None,
    selection: Sequence[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Confirmed samples whose label is one of ``classes``, whole rows, by id; with ``tags``
    only those an import tagged with one of them; with ``selection`` only those kept for one
    of these reasons."""
    marks = ",".join("?" for _ in classes)
    by_tag = ""
    if tags is not None:
        by_tag = f" AND tag IN ({','.join('?' for _ in tags)})"
    if selection is not None:
        by_tag += f" AND selection IN ({','.join('?' for _ in selection)})"
    sql = (
        f"SELECT * FROM samples WHERE state = 'confirmed' AND label IS NOT NULL AND {COUNTED}"
        f" AND label IN ({marks}){by_tag} ORDER BY id"
    )
    yield from db.query(sql, [*classes, *(tags or []), *(selection or [])])


def crop_path(blobs: BlobStore, row: Mapping[str, Any]) -> Path:
    """Where the crop JPEG of a sample row lives."""
    return blobs.path(str(row["crop_sha256"]))


def frame_path(blobs: BlobStore, row: Mapping[str, Any]) -> Path | None:
    """Where the full-frame JPEG of a sample row lives, or None if it has none."""
    sha = row.get("frame_sha256")
    return blobs.path(str(sha)) if sha else None


def sample_identities(db: Database, ids: Iterable[str]) -> dict[str, tuple[str, str, str | None]]:
    """``(device_id, crop_sha256, frame_sha256)`` of each stored sample among ``ids``.

    What ingest compares a sample id against: the same id with the same device and image bytes
    is a redelivery, anything else is a conflict.
    """
    wanted = list(dict.fromkeys(ids))
    found: dict[str, tuple[str, str, str | None]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = db.conn.execute(
            "SELECT id, device_id, crop_sha256, frame_sha256 FROM samples "
            f"WHERE id IN ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
        found.update({row[0]: (row[1], row[2], row[3]) for row in rows})
    return found


def selection_counts(db: Database) -> list[tuple[str, int]]:
    """Samples per ``selection`` (why each was kept), most first; ``(none)`` for samples
    from agents that do not send one."""
    rows = db.execute(
        "SELECT COALESCE(selection, '(none)') AS sel, COUNT(*) FROM samples "
        "GROUP BY sel ORDER BY 2 DESC, 1"
    ).fetchall()
    return [(str(sel), int(n)) for sel, n in rows]
