"""The export formats by name, and running one into a folder or a zip file."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from facetrove.collector.export.base import Exporter, ExportError, batched_copies, load_version
from facetrove.collector.export.coco import CocoExporter
from facetrove.collector.export.createml import CreateMLExporter
from facetrove.collector.export.csv_onehot import CsvOneHotExporter
from facetrove.collector.export.folder import FolderExporter
from facetrove.collector.export.tf_csv import TfCsvExporter
from facetrove.collector.export.voc import VocExporter
from facetrove.collector.export.yolo import YoloExporter
from facetrove.collector.export.yolo_cls import YoloClsExporter

EXPORTERS: dict[str, Exporter] = {
    "coco": CocoExporter(),
    "yolo": YoloExporter(),
    "voc": VocExporter(),
    "createml": CreateMLExporter(),
    "tf-csv": TfCsvExporter(),
    "csv": CsvOneHotExporter(),
    "folder": FolderExporter(),
    "yolo-cls": YoloClsExporter(),
}

#: a fixed time inside zip files, so the same export gives the same zip bytes
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def get_exporter(name: str) -> Exporter:
    """The exporter called ``name``; ExportError lists the known ones otherwise."""
    try:
        return EXPORTERS[name]
    except KeyError:
        raise ExportError(
            f"unknown export format {name!r} (known: {', '.join(EXPORTERS)})"
        ) from None


CLASSES_FILE = "classes.txt"


def export_version(version_dir: Path, fmt: str, out: Path, *, as_zip: bool = False) -> Path:
    """Write version ``version_dir`` in format ``fmt`` to folder ``out`` (or zip file ``out``).

    The output appears only when complete: it is written next to ``out`` under a name of its
    own (two exports at once never share a work folder) and renamed.
    """
    exporter = get_exporter(fmt)
    version = load_version(version_dir)
    version.images(exporter.task)  # fail before writing anything if the version lacks them
    if out.exists():
        raise ExportError(f"{out} already exists; choose another --out or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        with batched_copies():
            exporter.write(version, work)
        # One class order for every format: the recipe's. Class id = line number - 1. Readers
        # that number class folders alphabetically (ImageFolder, Keras, Ultralytics) are given
        # this list (docs/training.md).
        (work / CLASSES_FILE).write_text("".join(f"{c}\n" for c in version.classes))
        if as_zip:
            zip_tree(work, out)
            shutil.rmtree(work)
        else:
            work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out


def zip_tree(folder: Path, target: Path) -> None:
    """Zip ``folder``'s contents into ``target`` reproducibly (sorted, fixed times).

    JPEGs are stored (compressing them again saves nothing); text files are deflated. Empty
    folders are kept as folder entries: a class with no image in a split still has its folder,
    so folder-per-class readers number the classes alike in every split.
    """
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() or (p.is_dir() and not any(p.iterdir()))
    )
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".zip-partial", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        _write_zip(folder, files, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_zip(folder: Path, files: list[Path], tmp: Path) -> None:
    with zipfile.ZipFile(tmp, "w") as zf:
        for path in files:
            if path.is_dir():
                entry = zipfile.ZipInfo(path.relative_to(folder).as_posix() + "/", _ZIP_TIME)
                entry.external_attr = (0o40755 << 16) | 0x10  # a directory, for unzip and Python
                zf.writestr(entry, b"")
                continue
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _ZIP_TIME)
            info.external_attr = 0o644 << 16
            jpeg = path.suffix.lower() in (".jpg", ".jpeg")
            info.compress_type = zipfile.ZIP_STORED if jpeg else zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
