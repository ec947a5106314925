"""docs/protocol.md cannot rot: its example runs, its figures and tables match wire/."""

from __future__ import annotations

import ast
import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from facetrove import wire
from facetrove.wire import (
    COLLECTOR_REASONS,
    REASONS,
    Kind,
    decode_sample,
    parse_topic,
    sample_id_time,
)
from facetrove.wire.framing import MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES
from facetrove.wire.ids import SAMPLE_ID_RE
from facetrove.wire.messages import MAX_JSON_BYTES

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", TEXT, flags=re.S | re.M)


def _example() -> str:
    found = [b for b in _blocks("python") if b.startswith("# protocol-example")]
    assert len(found) == 1, "docs/protocol.md must hold exactly one '# protocol-example' block"
    return found[0]


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "protocol_example"}
    exec(compile(_example(), "docs/protocol.md#example", "exec"), namespace)
    return namespace


def test_example_uses_the_standard_library_only() -> None:
    tree = ast.parse(_example())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree))
    assert imported <= {"hashlib", "json", "os", "struct", "time"}, imported


def test_example_payload_decodes_with_the_reference_decoder(example: dict[str, Any]) -> None:
    device, kind = parse_topic(example["TOPIC"])
    assert kind is Kind.SAMPLE
    sample = decode_sample(example["payload"], device_id=device)
    assert sample.header.device_id == "pi-kitchen"
    assert sample.crop == example["CROP"]
    assert (sample.header.crop.width, sample.header.crop.height) == (8, 8)
    assert sample.header.captured_at.isoformat() == "2026-11-24T10:00:00.250000+00:00"
    # the fixed id in the example encodes the capture time
    assert sample_id_time(sample.header.sample_id) == sample.header.captured_at


def test_example_builds_samples_with_a_frame_and_fresh_ids(example: dict[str, Any]) -> None:
    ids = [example["sample_id"]() for _ in range(50)]
    assert len(set(ids)) == 50 and all(SAMPLE_ID_RE.match(i) for i in ids)
    assert abs(sample_id_time(example["sample_id"](1_700_000_000.5)).timestamp() - 1.7e9) < 1
    crop = example["CROP"]
    fields = {
        "sample_id": ids[0],
        "device_id": "other-lang",
        "captured_at": "2026-11-24T10:00:00+01:00",
        "source": "file:clip.mp4",
        "frame_width": 8,
        "frame_height": 8,
        "box": {"xmin": 0, "ymin": 0, "xmax": 8, "ymax": 8},
        "detector": "x",
        "detector_score": 1.0,
        "track_id": 0,
        "quality": {"blur": 0.0, "brightness": 0.0, "face_px": 8},
    }
    sample = decode_sample(example["build_sample"](fields, crop, crop))
    assert sample.frame == crop


def test_worked_example_figures_match_the_example(example: dict[str, Any]) -> None:
    payload: bytes = example["payload"]
    (head_len,) = struct.unpack(">I", payload[4:8])
    assert f"is {len(payload)} bytes: 8 bytes of prefix, a {head_len}-byte header" in TEXT
    assert f"(`0x{head_len:08x}`)" in TEXT
    assert f"a {len(example['CROP'])}-byte crop" in TEXT
    assert f"Bytes {8 + head_len}–{len(payload) - 1} are the crop JPEG" in TEXT
    dump = next(b for b in _blocks("text") if b.startswith("00000000:"))
    expected = []
    for off in range(0, 64, 16):
        chunk = payload[off : off + 16]
        words = " ".join(chunk[i : i + 2].hex() for i in range(0, 16, 2))
        ascii_ = "".join(chr(c) if 32 <= c < 127 else "." for c in chunk)
        expected.append(f"{off:08x}: {words}   {ascii_}")
    assert dump.splitlines() == expected
    header_blocks = [b for b in _blocks("json") if b.startswith('{"sample_id"')]
    assert header_blocks == [payload[8 : 8 + head_len].decode() + "\n"]


def _models() -> list[type[BaseModel]]:
    return [
        obj
        for name in wire.__all__
        if isinstance(obj := getattr(wire, name), type) and issubclass(obj, BaseModel)
    ]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_field_is_documented(model: type[BaseModel]) -> None:
    missing = [f for f in model.model_fields if f"| `{f}` |" not in TEXT]
    assert not missing, f"{model.__name__} fields missing from docs/protocol.md: {missing}"


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
def test_topic_table_matches_wire(kind: Kind) -> None:
    row = next(line for line in TEXT.splitlines() if line.startswith(f"| `{kind.value}` |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == f"`facetrove/v1/<device_id>/{kind.value}`"
    assert cells[3] == str(kind.qos)
    assert cells[4] == ("**yes**" if kind.retain else "no")


@pytest.mark.parametrize("reason", (*REASONS, *COLLECTOR_REASONS))
def test_every_error_reason_is_documented(reason: str) -> None:
    assert f"| `{reason}` |" in TEXT


def test_limits_match_wire() -> None:
    assert f"{MAX_PAYLOAD_BYTES:,} bytes" in TEXT
    assert f"{MAX_HEADER_BYTES:,} bytes" in TEXT
    assert f"{MAX_JSON_BYTES:,} bytes" in TEXT


def test_json_examples_validate() -> None:
    """Each complete JSON example in the doc is accepted by the model it illustrates."""
    by_section: dict[str, type[BaseModel]] = {
        "## Status": wire.Status,
        "## Stats": wire.Stats,
        "## Config": wire.AgentConfig,
    }
    for heading, model in by_section.items():
        section = TEXT.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
        block = re.search(r"```json\n(.*?)```", section, flags=re.S)
        assert block, f"no JSON example under {heading}"
        model.model_validate_json(json.dumps(json.loads(block.group(1))))
