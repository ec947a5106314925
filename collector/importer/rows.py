"""Sample rows for imported images: a face crop as it is, or a crop cut from an annotated frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facetrove.collector.store.samples import row_from_sample
from facetrove.wire import Sample
from facetrove.wire.ids import new_sample_id

DEVICE_ID = "import"
SELECTION = "import"


@dataclass(frozen=True)
class Provenance:
    """What every row of one import shares."""

    source: str  # the tree's name: shown as import:<name>/<path>
    tag: str | None
    at: str  # ISO time of the import (captured_at and received_at)


def track_of(file_sha: str) -> int:
    """A stable track id per imported file: all faces of one frame stay in one split group."""
    return int(file_sha[:13], 16)


def base_row(prov: Provenance, path: str, label: str | None, key: str) -> dict[str, Any]:
    """The fields every imported sample row has."""
    return {
        "id": new_sample_id(),
        "device_id": DEVICE_ID,
        "captured_at": prov.at,
        "received_at": prov.at,
        "source": f"import:{prov.source}/{path}"[:512],
        "provided_label": label,
        "selection": SELECTION,
        "tag": prov.tag,
        "import_key": key,
        "state": "pending",
    }


def crop_row(
    prov: Provenance,
    path: str,
    label: str | None,
    file_sha: str,
    crop: tuple[str, int, int, int],  # sha256, width, height, bytes
    blur: float,
    brightness: float,
) -> dict[str, Any]:
    """An image that is a face crop: the whole image is the face."""
    sha, w, h, size = crop
    row = base_row(prov, path, label, file_sha)
    row.update(
        frame_width=w, frame_height=h, box_xmin=0, box_ymin=0, box_xmax=w, box_ymax=h,
        detector="import", detector_score=1.0, track_id=track_of(file_sha), blur=blur,
        brightness=brightness, face_px=min(w, h), crop_sha256=sha, crop_width=w,
        crop_height=h, crop_bytes=size,
    )  # fmt: skip
    return row


def frame_row(
    prov: Provenance,
    path: str,
    label: str,
    file_sha: str,
    frame: tuple[str, int, int],  # sha256, width, height of the stored frame
    box: tuple[int, int, int, int],
    crop: tuple[str, int, int, int],
    blur: float,
    brightness: float,
) -> dict[str, Any]:
    """One annotated box of a frame: the crop cut at the box, the frame kept for detection."""
    fsha, fw, fh = frame
    sha, w, h, size = crop
    key = f"{file_sha}:{box[0]},{box[1]},{box[2]},{box[3]}"
    row = base_row(prov, path, label, key)
    row.update(
        frame_width=fw, frame_height=fh, box_xmin=box[0], box_ymin=box[1], box_xmax=box[2],
        box_ymax=box[3], detector="annotation", detector_score=1.0, track_id=track_of(file_sha),
        blur=blur, brightness=brightness, face_px=min(box[2] - box[0], box[3] - box[1]),
        crop_sha256=sha, crop_width=w, crop_height=h, crop_bytes=size, frame_sha256=fsha,
        frame_image_width=fw, frame_image_height=fh,
    )  # fmt: skip
    return row


def detected_row(
    prov: Provenance, path: str, label: str | None, file_sha: str, sample: Sample
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A face the agent found in an imported photo: its own row (pre-label, quality, frame),
    with the import's identity, label and tag; and the blobs to store."""
    h = sample.header
    b = h.box
    row = row_from_sample(sample, prov.at)
    row.update(
        device_id=DEVICE_ID, captured_at=prov.at, selection=SELECTION, tag=prov.tag,
        provided_label=label, import_key=f"{file_sha}:{b.xmin},{b.ymin},{b.xmax},{b.ymax}",
        source=f"import:{prov.source}/{path}"[:512],
    )  # fmt: skip
    blobs = {h.crop.sha256: sample.crop}
    if sample.frame is not None and h.frame is not None:
        blobs[h.frame.sha256] = sample.frame
    return row, blobs
