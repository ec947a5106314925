"""Ingest's own limits: image caps from the config, and every ingest setting documented."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

from facetrove.collector.config import load_config
from facetrove.collector.config.ingest import IngestConfig
from facetrove.collector.ingest.validate import Accepted, Rejected, validate_message
from facetrove.wire import Kind, topic
from tests.support.samples import base_crops, build_sample, with_comment

DOCS = Path(__file__).resolve().parents[2] / "docs" / "collector.md"


def declaring(payload: bytes, width: int, height: int) -> bytes:
    """A sample payload whose crop JPEG and header both declare ``width`` x ``height``."""
    (n,) = struct.unpack(">I", payload[4:8])
    head, crop = json.loads(payload[8 : 8 + n]), payload[8 + n :]
    i = crop.index(b"\xff\xc0")
    crop = crop[: i + 5] + struct.pack(">HH", height, width) + crop[i + 9 :]
    head["crop"] = {
        "width": width,
        "height": height,
        "length": len(crop),
        "sha256": hashlib.sha256(crop).hexdigest(),
    }
    head["frame_width"] = head["frame_height"] = max(width, height, 640)
    raw = json.dumps(head).encode()
    return b"FTS1" + struct.pack(">I", len(raw)) + raw + crop


def test_caps_come_from_the_config(tmp_path: Path) -> None:
    """Tried: a real 160-pixel face crop under a 128-pixel cap; the same crop with its header
    patched to declare 1025x1025 under the defaults. Kept: neither (image_too_large)."""
    crop = next(c for c in base_crops() if b"\x00\xa0\x00\xa0" in c[:300])  # 160x160
    cfg = tmp_path / "c.yaml"
    cfg.write_text("ingest:\n  crop_max_side: 128\n")
    strict = load_config(cfg).ingest.image_limits
    sample = build_sample(with_comment(crop, "cap"))
    t = topic(sample.device_id, Kind.SAMPLE)
    assert isinstance(validate_message(t, sample.payload, 1 << 22), Accepted)
    out = validate_message(t, sample.payload, 1 << 22, strict)
    assert isinstance(out, Rejected) and out.reason == "image_too_large", out
    assert "crop 160x160 has a side over 128" in out.detail
    big = declaring(build_sample(with_comment(crop, "big")).payload, 1025, 1025)
    out = validate_message(t, big, 1 << 22, IngestConfig().image_limits)
    assert isinstance(out, Rejected) and out.reason == "image_too_large", out


def _as_documented(value: object) -> str:
    """A default as the config table writes it (YAML spelling)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_every_ingest_setting_is_documented_with_its_default() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name, field in IngestConfig.model_fields.items():
        row = re.search(rf"^\| `ingest\.{name}` \| `?([^|`]*)`? \|", text, flags=re.M)
        assert row, f"ingest.{name} is not in the docs/collector.md config table"
        default = _as_documented(field.default)
        assert row.group(1).strip() == default, (name, row.group(1), default)
