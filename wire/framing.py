"""Binary framing of a sample: a small JSON header followed by raw JPEG bytes.

Layout (all integers big-endian)::

    b"FTS1"  magic, 4 bytes
    u32      header length H (1..MAX_HEADER_BYTES)
    H bytes  UTF-8 JSON object, a SampleHeader
    C bytes  crop JPEG, C = header.crop.length
    F bytes  optional frame JPEG, F = header.frame.length (absent if header.frame is null)

The payload must end exactly after the last section. Raw bytes instead of base64 JSON make a
sample about a third smaller on the wire.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from facetrove.wire.errors import WireError
from facetrove.wire.jpeg import jpeg_size
from facetrove.wire.messages import (
    SCHEMA_VERSION,
    ImagePart,
    SampleHeader,
    load_json,
    validate_json,
)

MAGIC = b"FTS1"
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_HEADER_BYTES = 32 * 1024
_PREFIX = struct.Struct(">4sI")


@dataclass(frozen=True)
class ImageLimits:
    """Caps on the size a JPEG header may declare, checked before any image byte is read.

    A few hundred bytes of JPEG can declare 16384x16384 pixels; decoding such an image costs
    hundreds of megabytes. The defaults cover what facetrove agents send (crops up to 1024 px,
    frames up to 4096 px on the longer side).
    """

    crop_max_side: int = 1024
    crop_max_pixels: int = 1024 * 1024
    frame_max_side: int = 4096
    frame_max_pixels: int = 4096 * 4096

    def check(self, name: str, part: ImagePart) -> None:
        """Raise ``WireError`` (``image_too_large``) if ``part`` is over the caps for ``name``."""
        side, pixels = (
            (self.crop_max_side, self.crop_max_pixels)
            if name == "crop"
            else (self.frame_max_side, self.frame_max_pixels)
        )
        size = f"{name} {part.width}x{part.height}"
        if max(part.width, part.height) > side:
            raise WireError("image_too_large", f"{size} has a side over {side}")
        if part.width * part.height > pixels:
            raise WireError(
                "image_too_large",
                f"{size} is {part.width * part.height:,} pixels, over {pixels:,}",
            )


DEFAULT_IMAGE_LIMITS = ImageLimits()


@dataclass(frozen=True)
class Sample:
    """A decoded sample: the validated header and the image bytes it describes."""

    header: SampleHeader
    crop: bytes
    frame: bytes | None = None


def image_part(jpeg: bytes) -> ImagePart:
    """Describe a JPEG for a header: size from its own header, length and sha256."""
    try:
        width, height = jpeg_size(jpeg)
    except ValueError as exc:
        raise WireError("image", str(exc)) from None
    return ImagePart(
        width=width, height=height, length=len(jpeg), sha256=hashlib.sha256(jpeg).hexdigest()
    )


def encode_sample(header: SampleHeader, crop: bytes, frame: bytes | None = None) -> bytes:
    """Frame a sample. The header's ``crop``/``frame`` parts must describe the bytes given."""
    if header.crop.length != len(crop) or (frame is None) != (header.frame is None):
        raise ValueError("header image parts do not match the bytes given")
    if frame is not None and header.frame is not None and header.frame.length != len(frame):
        raise ValueError("header frame length does not match the frame bytes")
    head = header.model_dump_json(exclude_none=True).encode()
    if len(head) > MAX_HEADER_BYTES:
        raise ValueError(f"header of {len(head)} bytes is over the {MAX_HEADER_BYTES}-byte limit")
    return b"".join((_PREFIX.pack(MAGIC, len(head)), head, crop, frame or b""))


def decode_sample(
    payload: bytes,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    verify_hash: bool = True,
    *,
    device_id: str | None = None,
    limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
) -> Sample:
    """Decode and validate a sample payload, trusting nothing in it.

    Checks, in order: total size, magic and lengths, JSON, schema version, schema, the device id
    (if ``device_id`` is given: the one from the topic it arrived on), the declared image sizes
    against ``limits``, then each JPEG's own header against the declared size, and its sha256.

    Raises:
        WireError: the only exception this raises, with a reason from ``wire.errors.REASONS``.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise WireError("framing", f"payload must be bytes, not {type(payload).__name__}")
    total = len(payload)
    if total > max_bytes:
        raise WireError("too_large", f"{total} bytes > limit of {max_bytes}")
    payload = bytes(payload)
    if total < _PREFIX.size:
        raise WireError("framing", f"payload of {total} bytes is shorter than the 8-byte prefix")
    magic, head_len = _PREFIX.unpack_from(payload)
    if magic != MAGIC:
        raise WireError("framing", f"bad magic {magic!r}, expected {MAGIC!r}")
    if not 1 <= head_len <= MAX_HEADER_BYTES:
        raise WireError("framing", f"header length {head_len} not in 1..{MAX_HEADER_BYTES}")
    end_head = _PREFIX.size + head_len
    if end_head > total:
        raise WireError("framing", f"header length {head_len} runs past the payload end")
    header = _parse_header(payload[_PREFIX.size : end_head])
    if device_id is not None and header.device_id != device_id:
        raise WireError(
            "device_mismatch",
            f"topic device {device_id[:80]!r} differs from payload device {header.device_id!r}",
        )
    limits.check("crop", header.crop)
    if header.frame is not None:
        limits.check("frame", header.frame)
    crop_end = end_head + header.crop.length
    frame_len = header.frame.length if header.frame else 0
    if crop_end + frame_len != total:
        raise WireError(
            "framing",
            f"declared sections end at byte {crop_end + frame_len}, payload has {total}",
        )
    crop = payload[end_head:crop_end]
    _check_image("crop", crop, header.crop, verify_hash)
    frame = None
    if header.frame is not None:
        frame = payload[crop_end:]
        _check_image("frame", frame, header.frame, verify_hash)
    return Sample(header=header, crop=crop, frame=frame)


def _parse_header(raw: bytes) -> SampleHeader:
    obj = load_json(raw, "header")
    if not isinstance(obj, dict):
        raise WireError("json", f"header must be a JSON object, not {type(obj).__name__}")
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise WireError("version", f"schema_version {version!r} is not {SCHEMA_VERSION}")
    return validate_json(SampleHeader, raw)


def _check_image(name: str, data: bytes, part: ImagePart, verify_hash: bool) -> None:
    try:
        width, height = jpeg_size(data)
    except ValueError as exc:
        raise WireError("image", f"{name}: {exc}") from None
    if (width, height) != (part.width, part.height):
        raise WireError(
            "image",
            f"{name} JPEG is {width}x{height} but the header says {part.width}x{part.height}",
        )
    if verify_hash and hashlib.sha256(data).hexdigest() != part.sha256:
        raise WireError("image", f"{name} sha256 does not match the header")
