"""What an import reads from: a folder or a zip file, seen as a list of safe relative paths.

Nothing is extracted: a zip's entries are read in memory one at a time, so a refused import
leaves nothing behind. Every entry that is not used is listed with the reason (hidden, unsafe
name, nested zip, too large, ...). A zip is refused whole when the sizes its entries declare add
up to more than ``max_total_bytes`` (a zip bomb), and reading stops there too should the
declared sizes lie.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from facetrove.collector.importer.base import ImportRefused, Skip

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
#: annotation files the readers may consume; any other non-image is skipped as not-an-image
TEXT_SUFFIXES = frozenset({".json", ".csv", ".xml", ".txt", ".yaml", ".yml"})
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TEXT_BYTES = 1024 * 1024 * 1024  # a COCO file of a large set is hundreds of MB
MAX_TOTAL_BYTES = 8 * 1024**3
MAX_ENTRIES = 500_000
MAX_PART_CHARS = 255  # NAME_MAX: a longer name cannot be a file on any common file system
MAX_PATH_CHARS = 1024


@dataclass
class Tree:
    """The usable files of an import source (relative posix paths) and what was set aside."""

    name: str
    files: dict[str, int] = field(default_factory=dict)  # path -> size in bytes
    skipped: list[Skip] = field(default_factory=list)
    _root: Path | None = None
    _zip: zipfile.ZipFile | None = None
    _infos: dict[str, zipfile.ZipInfo] = field(default_factory=dict)
    max_file_bytes: int = MAX_FILE_BYTES
    max_total_bytes: int = MAX_TOTAL_BYTES
    _read_total: int = 0

    def read(self, path: str, max_bytes: int | None = None) -> bytes:
        """The bytes of one listed file.

        Raises:
            EntryError: the file is over the per-file cap, or a zip entry is corrupt.
            ImportRefused: more than the total cap was read (declared sizes lied).
        """
        limit = self.max_file_bytes if max_bytes is None else max_bytes
        if self._zip is not None:
            try:
                with self._zip.open(self._infos[path]) as fh:
                    data = fh.read(limit + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise BrokenEntry(str(exc)) from None
        else:
            assert self._root is not None
            with open(self._root / path, "rb") as fh:
                data = fh.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(f"larger than {_size(limit)}")
        self._read_total += len(data)
        if self._read_total > self.max_total_bytes:
            raise ImportRefused(
                f"{self.name}: more than {_size(self.max_total_bytes)} read; "
                "the zip's declared sizes were wrong (a zip bomb?)"
            )
        return data

    def disk_path(self, path: str) -> Path | None:
        """The file's path on disk when the tree is a folder (None inside a zip)."""
        return None if self._root is None else self._root / path

    def images(self) -> list[str]:
        """Listed image files, sorted."""
        return sorted(p for p in self.files if PurePosixPath(p).suffix.lower() in IMAGE_SUFFIXES)

    def named(self, name: str) -> list[str]:
        """Listed files whose base name is ``name`` (case-insensitive), sorted."""
        low = name.lower()
        return sorted(p for p in self.files if PurePosixPath(p).name.lower() == low)

    def with_suffix(self, *suffixes: str) -> list[str]:
        return sorted(p for p in self.files if PurePosixPath(p).suffix.lower() in suffixes)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


class EntryError(ValueError):
    """One file that cannot be read; ``reason`` is the summary's key."""

    reason = "unreadable"


class TooLarge(EntryError):
    """One file over the per-file cap."""

    reason = "too-large"


class BrokenEntry(EntryError):
    """A zip entry whose data does not match its header (bad CRC, bad size, bad deflate)."""

    reason = "broken-entry"


def _cap(name: str, image_cap: int) -> int:
    """The size cap of a file by its kind: annotation files may be far larger than images."""
    text = PurePosixPath(name).suffix.lower() in TEXT_SUFFIXES
    return MAX_TEXT_BYTES if text else image_cap


def _check_name(name: str) -> str | None:
    """The skip reason for an entry name, or None if it may be used."""
    if "\x00" in name:
        return "unsafe-name"
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "unsafe-name"
    parts = path.parts
    if any(p == ".." for p in parts):
        return "unsafe-name"
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return "hidden"
    if len(name) > MAX_PATH_CHARS or any(len(p) > MAX_PART_CHARS for p in parts):
        return "name-too-long"
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return "nested-zip"
    if suffix not in IMAGE_SUFFIXES and suffix not in TEXT_SUFFIXES:
        return "not-an-image"
    return None


def open_tree(path: Path, *, max_total_bytes: int = MAX_TOTAL_BYTES) -> Tree:
    """List the usable files of a folder or zip file.

    Raises:
        ImportRefused: the path does not exist, is neither a folder nor a readable zip, or the
            zip declares more than ``max_total_bytes`` in all.
    """
    if path.is_dir():
        return _folder_tree(path, max_total_bytes)
    if not path.exists():
        raise ImportRefused(f"{path} does not exist")
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise ImportRefused(f"{path} is neither a folder nor a zip file")
    return _zip_tree(path, max_total_bytes)


def _zip_tree(path: Path, max_total: int) -> Tree:
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRefused(f"{path} is not a readable zip file: {exc}") from None
    if len(infos) > MAX_ENTRIES:
        zf.close()
        raise ImportRefused(f"{path} has {len(infos)} entries, more than {MAX_ENTRIES}")
    declared = sum(i.file_size for i in infos)
    if declared > max_total:
        zf.close()
        raise ImportRefused(
            f"{path} would unpack to {_size(declared)}, more than the {_size(max_total)} an "
            "import may hold (a zip bomb?)"
        )
    tree = Tree(path.name, _zip=zf, max_total_bytes=max_total)
    for info in infos:
        if info.is_dir():
            continue
        name = info.filename
        reason = _check_name(name)
        if reason is None and info.file_size > _cap(name, tree.max_file_bytes):
            reason = "too-large"
        if reason is not None:
            tree.skipped.append(Skip(name, reason))
        elif name in tree.files:
            tree.skipped.append(Skip(name, "duplicate-entry"))
        else:
            tree.files[name] = info.file_size
            tree._infos[name] = info
    return tree


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every non-directory under ``root``; hidden folders are not
    entered, but they are reported once."""
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = sorted(os.scandir(root / rel), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            hidden = entry.name.startswith(".") or entry.name == "__MACOSX"
            if stat.S_ISDIR(st.st_mode) and not hidden:
                stack.append(child)
                continue
            yield child, st


def _folder_tree(root: Path, max_total: int) -> Tree:
    # A folder is already on disk: no unpacking to cap. Only zips get the total cap.
    del max_total
    tree = Tree(root.name or str(root), _root=root, max_total_bytes=2**62)
    for rel, st in _walk(root):
        if stat.S_ISDIR(st.st_mode):
            tree.skipped.append(Skip(rel + "/", "hidden"))
            continue
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            tree.skipped.append(Skip(rel, "not-a-regular-file"))
            continue
        reason = _check_name(rel)
        if reason is None and st.st_size > _cap(rel, tree.max_file_bytes):
            reason = "too-large"
        if reason is not None:
            tree.skipped.append(Skip(rel, reason))
        else:
            tree.files[rel] = st.st_size
        if len(tree.files) > MAX_ENTRIES:
            raise ImportRefused(f"{root} holds more than {MAX_ENTRIES} files")
    return tree
