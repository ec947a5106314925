"""Fuzz the decoders with seeded, mutated payloads: WireError is the only exception ever raised.

What is thrown: bit flips, truncation, insertion and deletion of bytes, prefix lengths rewritten to
lie, JSON headers mutated (wrong types, missing fields, huge numbers, nested garbage, unicode, lone
surrogates, negative and out-of-frame boxes, unknown schema versions, lying image lengths), oversize
payloads, and valid payloads with harmless changes (unknown fields, key order, whitespace) that must
still decode. What is kept: every valid payload in the mix decodes to exactly the bytes it carried.
"""

from __future__ import annotations

import json
import random
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from facetrove.wire import REASONS, Kind, WireError, decode_json_message, decode_sample
from facetrove.wire.framing import MAGIC, MAX_PAYLOAD_BYTES
from facetrove.wire.messages import MAX_JSON_BYTES
from tests.wire.factory import header_dict, make_jpeg

SEED = 20261124
N_SAMPLE = 12_000
N_JSON = 6_000

CROPS = [make_jpeg(w, h, seed=w, progressive=w % 2 == 0) for w, h in ((16, 16), (48, 64), (97, 33))]
FRAMES = [make_jpeg(160, 120, seed=5), make_jpeg(320, 240, seed=6, subsampling="444")]
SHA = "ab" * 32
# fields that are free-form maps (class name -> number), not models: a new key there is data
MAPS = {"probs", "drops", "class_targets"}

JSON_VALID: dict[Kind, dict[str, Any]] = {
    Kind.STATUS: {"device_id": "cam-1", "state": "online", "at": "2026-11-24T10:00:00Z"},
    Kind.STATS: {
        "device_id": "cam-1",
        "at": "2026-11-24T10:00:00+00:00",
        "uptime_s": 12.5,
        "fps": 15.0,
        "frames": 180,
        "faces": 20,
        "samples_accepted": 5,
        "samples_sent": 4,
        "outbox_depth": 1,
        "outbox_bytes": 2048,
        "outbox_dropped": 0,
        "drops": {"blur": 3},
    },
    Kind.CONFIG: {"revision": 2, "sampling": {"per_minute": 5}, "class_targets": {"sad": 2.0}},
    Kind.MODEL: {
        "model_id": "fer-2",
        "sha256": SHA,
        "url": "http://c/m.onnx",
        "size": 1000,
        "classes": ["happy", "sad"],
    },
}

GARBAGE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**64),
    10**40,
    1e308,
    -1e308,
    1.5,
    -0.0,
    "",
    "x" * 600,
    "ünï©ødé 🙂",
    "\u0000\u202e",
    [],
    [1, [2, [3, [4]]]],
    {},
    {"a": {"b": {"c": [None]}}},
    "2026-11-24T10:00:00",
    "NaN",
]


def frame(head: bytes, *images: bytes, length: int | None = None) -> bytes:
    n = len(head) if length is None else length
    return MAGIC + struct.pack(">I", n & 0xFFFFFFFF) + head + b"".join(images)


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a JSON tree (dict keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += paths(value, (*prefix, i))
    return out


def set_path(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for key in path[:-1]:
        obj = obj[key]
    if delete and isinstance(obj, dict):
        del obj[path[-1]]
    elif delete:
        obj.pop(path[-1])
    else:
        obj[path[-1]] = value


def mutate_json(rng: random.Random, data: dict[str, Any]) -> tuple[Any, bool]:
    """Mutate a JSON tree; returns (new tree, still certainly valid)."""
    data = json.loads(json.dumps(data))
    choice = rng.randrange(13)
    all_paths = paths(data)
    path = rng.choice(all_paths)
    if choice == 0:  # unknown fields at any depth: must be ignored
        target = data
        for key in path[:-1]:
            target = target[key]
        if isinstance(target, dict) and path[:-1] and path[-2] not in MAPS:
            target[f"zz_unknown_{rng.randrange(99)}"] = rng.choice(GARBAGE)
        else:
            data["zz_new_field"] = rng.choice(GARBAGE)
        return data, True
    if choice == 1:
        set_path(data, path, None, delete=True)
    elif choice in (2, 3, 4):
        set_path(data, path, rng.choice(GARBAGE))
    elif choice == 5:  # the value as a string, the way a sloppy client might send it
        value: Any = data
        for key in path:
            value = value[key]
        set_path(data, path, json.dumps(value))
    elif choice == 6:
        box = data.get("box")
        if isinstance(box, dict):
            key = rng.choice(["xmin", "ymin", "xmax", "ymax"])
            box[key] = rng.choice([-1, -500, 0, 640, 641, 481, 10**9, 16385])
        else:
            data["box"] = {"xmin": -1, "ymin": -1, "xmax": 2, "ymax": 2}
    elif choice == 7:
        data["schema_version"] = rng.choice([0, 2, 99, -1, "1", 1.0, True, None, [1], 2**70])
    elif choice == 8:  # nested garbage
        nest: Any = rng.choice(GARBAGE)
        for _ in range(rng.randrange(1, 300)):
            nest = [nest] if rng.random() < 0.5 else {"k": nest}
        set_path(data, path, nest)
    elif choice == 9:  # random unicode, including what JSON can only escape
        text = "".join(
            chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0x80, 0x10FFFF)]))
            for _ in range(rng.randrange(0, 80))
        )
        set_path(data, path, text)
    elif choice == 10:  # image parts whose lengths or sizes lie
        part = data.get(rng.choice(["crop", "frame"]))
        if isinstance(part, dict):
            key = rng.choice(["length", "width", "height"])
            part[key] = rng.choice([0, 1, 3, 4, part.get(key, 5) + rng.choice([-1, 1]), 2**40])
    elif choice == 11:  # a well-formed id of another device than the topic's
        data["device_id"] = rng.choice(["cam-2", "pi-kitchen.02", "X"])
    else:  # big numbers everywhere numeric
        for p in all_paths:
            value = data
            try:
                for key in p:
                    value = value[key]
            except (KeyError, IndexError, TypeError):
                continue
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and rng.random() < 0.3
            ):
                set_path(data, p, rng.choice([10**20, -(10**20), 1e300, 2**53 + 1]))
    return data, False


def dumps(rng: random.Random, data: Any) -> bytes:
    """Serialise with varied but valid JSON styles (key order, spacing, escaping)."""
    style = rng.randrange(3)
    if style == 0:
        return json.dumps(data).encode()
    if style == 1:
        return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")
    items = list(data.items()) if isinstance(data, dict) else data
    if isinstance(items, list) and isinstance(data, dict):
        rng.shuffle(items)
        return json.dumps(dict(items), separators=(",", ":")).encode()
    return json.dumps(data).encode()


def byte_mutation(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    op = rng.randrange(7)
    if op == 0:  # bit flips
        for _ in range(rng.randrange(1, 9)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # truncation
        del data[rng.randrange(len(data)) :]
    elif op == 2:  # insertion
        i = rng.randrange(len(data) + 1)
        data[i:i] = rng.randbytes(rng.randrange(1, 64))
    elif op == 3:  # deletion
        i = rng.randrange(len(data))
        del data[i : i + rng.randrange(1, 64)]
    elif op == 4:  # the header length lies
        (n,) = struct.unpack(">I", bytes(data[4:8]))
        lie = rng.choice([0, 1, n - 1, n + 1, n * 2, 2**31, 2**32 - 1, rng.randrange(2**32)])
        data[4:8] = struct.pack(">I", lie & 0xFFFFFFFF)
    elif op == 5:  # overwrite a random window with random bytes
        i = rng.randrange(len(data))
        data[i : i + 8] = rng.randbytes(8)
    else:  # splice the tail of one image onto another
        cut = rng.randrange(len(data))
        data = data[:cut] + bytearray(rng.choice(CROPS)[rng.randrange(10) :])
    return bytes(data)


def check(call: Callable[[], object], tally: Counter[str]) -> bool:
    """Run one decode: True if it decoded, False if it raised a documented WireError."""
    try:
        call()
    except WireError as exc:
        assert exc.reason in REASONS, exc
        assert str(exc).startswith(f"{exc.reason}: ") and exc.detail
        tally[exc.reason] += 1
        return False
    tally["ok"] += 1
    return True


def test_fuzz_decode_sample() -> None:
    rng = random.Random(SEED)
    tally: Counter[str] = Counter()
    valid_seen = 0
    for _ in range(N_SAMPLE):
        crop = rng.choice(CROPS)
        frame_img = rng.choice([None, *FRAMES])
        base = header_dict(crop, frame_img)
        kind = rng.random()
        if kind < 0.1:  # valid as is
            payload, valid = frame(dumps(rng, base), crop, frame_img or b""), True
        elif kind < 0.55:
            head, valid = mutate_json(rng, base)
            payload = frame(dumps(rng, head), crop, frame_img or b"")
        elif kind < 0.999:
            payload = byte_mutation(rng, frame(json.dumps(base).encode(), crop, frame_img or b""))
            valid = False
        else:  # oversize
            payload, valid = frame(b"{}", b"\xff" * MAX_PAYLOAD_BYTES), False

        expect = rng.choice([None, base["device_id"]])  # the topic's device id, when checked
        decoded = check(lambda p=payload, d=expect: decode_sample(p, device_id=d), tally)  # type: ignore[misc]
        if valid:
            valid_seen += 1
            assert decoded, f"a valid payload was refused: {payload[:300]!r}"
            sample = decode_sample(payload)
            assert sample.crop == crop and sample.frame == frame_img
    assert sum(tally.values()) >= 10_000
    assert valid_seen > 1000
    # the mix reaches every payload-level reason
    reasons = {"too_large", "framing", "json", "schema", "version", "image", "device_mismatch"}
    assert reasons | {"ok"} <= set(tally), tally


def test_fuzz_decode_json_message() -> None:
    rng = random.Random(SEED + 1)
    tally: Counter[str] = Counter()
    valid_seen = 0
    kinds = list(JSON_VALID)
    for _ in range(N_JSON):
        kind = rng.choice(kinds)
        r = rng.random()
        if r < 0.15:
            payload, valid = dumps(rng, JSON_VALID[kind]), True
        elif r < 0.7:
            data, valid = mutate_json(rng, JSON_VALID[kind])
            payload = dumps(rng, data)
        elif r < 0.995:
            payload = byte_mutation(rng, b"FTS1\x00\x00\x00\x00" + dumps(rng, JSON_VALID[kind]))[8:]
            valid = False
        else:
            payload, valid = b" " * (MAX_JSON_BYTES + 1), False
        expect = rng.choice([None, "cam-1"])
        decoded = check(
            lambda k=kind, p=payload, d=expect: decode_json_message(k, p, device_id=d),  # type: ignore[misc]
            tally,
        )
        if valid:
            valid_seen += 1
            assert decoded, f"a valid {kind.value} message was refused: {payload[:300]!r}"
    assert valid_seen > 1000
    assert {"too_large", "json", "schema", "device_mismatch", "ok"} <= set(tally), tally
