"""Hostile input: each refused or skipped with a reason, nothing written outside the store,
nothing left behind."""

from __future__ import annotations

import contextlib
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from facetrove.collector.importer.base import ImportRefused
from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.store import DB_NAME, connect
from tests.collector.importer.conftest import crop_bytes


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _run(path: Path, data: Path, **options: object):  # type: ignore[no-untyped-def]
    db = connect(data / DB_NAME)
    return db, Importer(data, db, ImportOptions(**options)).run(path)  # type: ignore[arg-type]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00" * 64
    )


def test_every_hostile_entry_is_skipped_with_its_reason(tmp_path: Path) -> None:
    face = crop_bytes()
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("happy/inner.png", face)
    archive = _zip(
        tmp_path / "hostile.zip",
        {
            "happy/ok.png": face,
            "../escape.png": face,
            "/etc/absolute.png": face,
            "C:/windows.png": face,
            "happy/" + "x" * 300 + ".png": face,
            ".hidden/x.jpg": face,
            "happy/.DS_Store": b"junk",
            "__MACOSX/happy/._ok.png": b"junk",
            "nested.zip": inner.getvalue(),
            "happy/notes.txt": b"hello",
            "happy/tool.exe": b"MZ",
            "happy/broken.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 50,
            "happy/random.png": b"not an image at all",
            "happy/bomb.png": _png_header(60000, 60000),
            "sad/truncated.png": face[: len(face) // 2],
        },
    )
    before = set(tmp_path.iterdir())
    db, summary = _run(archive, tmp_path / "data")
    assert summary.imported == 1
    assert summary.reasons == {
        "unsafe-name": 3,
        "name-too-long": 1,
        "hidden": 3,
        "nested-zip": 1,
        "not-an-image": 3,
        "broken-image": 2,
        "too-large": 1,
    }, summary.lines()
    assert any("x" * 100 in e for e in summary.examples["name-too-long"])
    assert set(tmp_path.iterdir()) == before | {tmp_path / "data"}
    assert not (tmp_path / "escape.png").exists() and not (tmp_path / "data" / "imports").exists()
    assert db.execute("select count(*) from samples").fetchone()[0] == 1


def test_hidden_folders_on_disk_are_not_entered(tmp_path: Path) -> None:
    root = tmp_path / "set"
    for rel in ("happy/a.png", ".hidden/x.png", "happy/.cache/y.png", "sad/.z.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(crop_bytes())
    (root / "sad" / "link.png").symlink_to("/etc/passwd")
    _, summary = _run(root, tmp_path / "data")
    assert summary.imported == 1
    assert summary.reasons == {"hidden": 3, "not-a-regular-file": 1}, summary.lines()


def test_a_zip_bomb_is_refused_by_its_total_size_before_anything_is_written(tmp_path: Path) -> None:
    """Tried: entries each under the per-file cap whose sizes add up past the total cap.
    Kept: nothing; the import is refused before a row or blob is written."""
    zeros = b"\x00" * (8 * 1024 * 1024)  # 8 MiB each, deflates to ~8 KiB
    archive = _zip(tmp_path / "bomb.zip", {f"happy/{i}.png": zeros for i in range(5)})
    assert archive.stat().st_size < 200_000
    with pytest.raises(ImportRefused, match=r"would unpack to 40 MiB, more than the 30 MiB"):
        _run(archive, tmp_path / "data", max_total_bytes=30 << 20)
    db = connect(tmp_path / "data" / DB_NAME)
    assert db.execute("select count(*) from samples").fetchone()[0] == 0
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file() and "blobs" in p.parts]


def test_sizes_a_zip_lies_about_are_caught_while_reading(tmp_path: Path) -> None:
    """Tried: a zip whose directory declares tiny sizes for large entries. Kept: nothing past
    the total cap is read: the import stops with an error and no partial rows."""
    archive = _zip(tmp_path / "liar.zip", {f"happy/{i}.png": b"\x00" * (4 << 20) for i in range(4)})
    raw = bytearray(archive.read_bytes())
    # rewrite every declared uncompressed size (local headers and central directory) to 100
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            raw[i + offset : i + offset + 4] = struct.pack("<I", 100)
            start = i + 4
    archive.write_bytes(bytes(raw))
    summary = None
    with contextlib.suppress(ImportRefused):
        summary = _run(archive, tmp_path / "data", max_total_bytes=10 << 20)[1]
    if summary is not None:  # zipfile noticed the lie itself: every entry is a broken one
        assert summary.imported == 0 and summary.reasons == {"broken-entry": 4}
    db = connect(tmp_path / "data" / DB_NAME)
    assert db.execute("select count(*) from samples").fetchone()[0] == 0


def test_a_file_that_is_not_a_zip_or_folder_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "photos.zip"
    bad.write_bytes(b"PK not really")
    with pytest.raises(ImportRefused, match="neither a folder nor a zip"):
        _run(bad, tmp_path / "data")
    with pytest.raises(ImportRefused, match="no images found"):
        _run(tmp_path / "data", tmp_path / "data2")


@pytest.mark.parametrize(
    ("fmt", "name", "content", "expect"),
    [
        ("coco", "train/_annotations.coco.json", b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),
        ("createml", "train/_annotations.createml.json", b'{"a":' * 100_000, "not valid JSON"),
        ("yolo", "data.yaml", b"names: " + b"[" * 100_000 + b"]" * 100_000, "not valid YAML"),
        ("csv", "train/_classes.csv", b"filename,happy\n" + b"x" * 200_000 + b",1\n", "CSV"),
        ("tf-csv", "train/_annotations.csv", b"filename,class\x00\n", "CSV|no column"),
        ("coco", "train/_annotations.coco.json", b"\xff\xfe not utf-8", "UTF-8"),
        ("coco", "train/_annotations.coco.json", b'{"images": 3}', "not a COCO file"),
    ],
)
def test_malformed_annotation_files_refuse_with_one_line(
    tmp_path: Path, fmt: str, name: str, content: bytes, expect: str
) -> None:
    """Tried: annotation files nested 100,000 deep, over the csv module's field limit, with NUL
    bytes, not UTF-8, of the wrong shape. Kept: a one-line refusal naming the file, no
    traceback (RecursionError, csv.Error), nothing written."""
    archive = _zip(tmp_path / "bad.zip", {name: content, "train/a.png": crop_bytes()})
    with pytest.raises(ImportRefused, match=expect) as err:
        _run(archive, tmp_path / "data", fmt=fmt)
    assert name.split("/")[-1] in str(err.value) and "\n" not in str(err.value)
    db = connect(tmp_path / "data" / DB_NAME)
    assert db.execute("select count(*) from samples").fetchone()[0] == 0


def test_voc_with_entities_or_deep_nesting_is_skipped(tmp_path: Path) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><annotation><filename>a.png</filename>'
        b"<object><name>&lol2;</name></object></annotation>"
    )
    deep = b"<annotation>" + b"<a>" * 50_000 + b"</a>" * 50_000 + b"</annotation>"
    archive = _zip(
        tmp_path / "voc.zip",
        {"train/a.xml": laughs, "train/a.png": crop_bytes(), "train/b.xml": deep},
    )
    _, summary = _run(archive, tmp_path / "data", fmt="voc")
    assert summary.imported == 0
    assert summary.reasons["unsafe-xml"] == 1, summary.lines()


def test_boxes_with_nan_or_infinite_numbers_are_skipped_not_a_crash(tmp_path: Path) -> None:
    """Tried: COCO bboxes with NaN and 1e308 (Python's json reads NaN), YOLO lines with nan and
    inf, a YOLO line with 10 fields. Kept: each such box skipped with a reason, the good box of
    the same image imported (before: ValueError from math.floor, a traceback, nothing stored)."""
    coco = (
        b'{"images": [{"id": 1, "file_name": "a.png", "width": 48, "height": 48}],'
        b' "categories": [{"id": 1, "name": "happy"}], "annotations": ['
        b'{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, NaN, 10]},'
        b'{"id": 2, "image_id": 1, "category_id": 1, "bbox": [1e308, 1e308, 1e308, 1e308]},'
        b'{"id": 3, "image_id": 1, "category_id": 1, "bbox": [-Infinity, 0, 40, 40]},'
        b'{"id": 4, "image_id": 1, "category_id": 1, "bbox": [2, 2, 40, 40]}]}'
    )
    archive = _zip(
        tmp_path / "coco.zip", {"train/_annotations.coco.json": coco, "train/a.png": crop_bytes()}
    )
    _, summary = _run(archive, tmp_path / "data", fmt="coco")
    assert summary.imported == 1, summary.lines()
    assert sum(summary.reasons.values()) == 3, summary.lines()

    labels = b"0 nan 0.5 0.5 0.5\n0 inf inf 1 1\n0 0.5 0.5 0.5 0.5 1 2 3 4 5\n0 0.5 0.5 0.8 0.8\n"
    archive = _zip(
        tmp_path / "yolo.zip",
        {
            "data.yaml": b"names: [happy]\n",
            "train/images/a.png": crop_bytes(),
            "train/labels/a.txt": labels,
        },
    )
    _, summary = _run(archive, tmp_path / "data2", fmt="yolo")
    assert summary.imported == 1, summary.lines()
    assert sum(summary.reasons.values()) == 3, summary.lines()


def test_a_yaml_alias_bomb_in_the_class_names_is_refused_in_one_short_line(
    tmp_path: Path,
) -> None:
    """Tried: data.yaml whose names expand by aliases to 9^8 strings (before: the refusal
    printed every one of them, a 226 MB error line). Kept: a short one-line refusal."""
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, cur in zip("abcdefg", "bcdefgh", strict=True):
        rows.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    rows.append("names: [*h]")
    archive = _zip(
        tmp_path / "bomb.zip",
        {
            "data.yaml": "\n".join(rows).encode(),
            "train/images/a.png": crop_bytes(),
            "train/labels/a.txt": b"0 0.5 0.5 0.8 0.8\n",
        },
    )
    with pytest.raises(ImportRefused) as err:
        _run(archive, tmp_path / "data", fmt="yolo", add_classes=True)
    assert "data.yaml" in str(err.value) and len(str(err.value)) < 300


def test_a_source_whose_every_image_was_set_aside_says_why(tmp_path: Path) -> None:
    """Tried: a zip of nothing but unsafe names (``../x.png``, ``/etc/x.png``). Before: "no
    images found", which sends a newcomer looking for a wrong extension. Kept: the refusal
    counts what was set aside, by reason."""
    archive = _zip(
        tmp_path / "unsafe.zip", {"../happy/a.png": crop_bytes(), "/etc/happy/b.png": crop_bytes()}
    )
    with pytest.raises(ImportRefused, match="no images found") as err:
        _run(archive, tmp_path / "data")
    assert "2 unsafe-name" in str(err.value) and "\n" not in str(err.value)


def test_a_source_whose_every_image_is_unreadable_fails_and_says_why(tmp_path: Path) -> None:
    """Tried: a folder of two .png files that are not images and a truncated PNG. Before: exit
    0 and "0 imported, ... 3 skipped", so a script could not tell it from a success. Kept: the
    summary with every skip reason, then one line saying nothing was imported and why, exit 1;
    with --json the summary event then a refused event. Already-imported files are a success."""
    import json

    from click.testing import CliRunner

    from facetrove.cli import cli

    root = tmp_path / "set" / "happy"
    root.mkdir(parents=True)
    (root / "a.png").write_bytes(b"not an image at all")
    (root / "b.png").write_bytes(bytes(100))
    (root / "c.png").write_bytes(crop_bytes()[:60])
    argv = ["collector", "import", str(tmp_path / "set"), "--data-dir", str(tmp_path / "data")]
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 1, res.output
    assert "0 imported" in res.output and "skipped 2 not-an-image" in res.output
    assert "Error: set: nothing imported: all 3 files were skipped" in res.output
    assert "2 not-an-image, 1 broken-image" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, [*argv, "--json"])
    events = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert res.exit_code == 1 and [e["event"] for e in events][-2:] == ["summary", "refused"]
    assert events[-2]["reasons"] == {"not-an-image": 2, "broken-image": 1}
    assert "nothing imported" in events[-1]["error"]
    # a source that is all already imported is no failure
    (root / "a.png").write_bytes(crop_bytes())
    for _ in range(2):
        res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 0 and "1 already imported" in res.output, res.output
