"""CSV cells that a spreadsheet will not run: every CSV export writes through ``csv_writer``."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

#: A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value``, with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose text cells are neutralised with ``safe_cell``."""

    def __init__(self, fh: IO[str]) -> None:
        self._writer = csv.writer(fh, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])


def csv_writer(fh: IO[str]) -> SafeWriter:
    """The writer every CSV export uses."""
    return SafeWriter(fh)
