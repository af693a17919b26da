"""Reading and writing the bulk-user-data file as CSV or XLSX (the only I/O in bulk/)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO, cast

import attrs
import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from schoolsync.bulk._cells import neutralise, restore
from schoolsync.errors import FileFormatError
from schoolsync.sources._frames import DataFrameLike, frame_header, frame_rows, is_frame
from schoolsync.sources._limits import read_capped
from schoolsync.sources._text import decode_text as shared_decode_text
from schoolsync.sources.xlsx import XlsxWorkbook

__all__ = [
    "NOT_A_WORKBOOK",
    "BulkSheet",
    "check_suffix",
    "decode_text",
    "read_sheet",
    "write_sheet",
    "write_stream",
]

_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_SHEET_TITLE = "bulk-user-data"
#: Headers of the bulk-user-data shape, to find the header row below any title rows.
BULK_HEADERS = ("Email", "Name", "Edited", "Trust Roles", "Inactive")


@attrs.frozen(kw_only=True)
class BulkSheet:
    """A bulk file's cells as text: the header and the data rows.

    ``rows[i]`` is spreadsheet row ``i + 2`` (the header is row 1), or, for a sheet read from a
    DataFrame, ``numbers[i]`` (the frame's index label). Cells are already restored from their
    spreadsheet-safe form (see :func:`schoolsync.bulk.neutralise`).
    """

    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numbers: tuple[int, ...] | None = None

    def row_number(self, index: int) -> int:
        """The row number problems name for ``rows[index]``: its spreadsheet row, or its
        DataFrame index label."""
        if self.numbers is not None:
            return self.numbers[index]
        return index + 2


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


_ZIP = b"PK\x03\x04"
_TEXT_SUFFIXES = {"", ".csv", ".tsv", ".txt"}
#: The message for a file named ``.xlsx`` that holds text (a CSV saved under the wrong name).
NOT_A_WORKBOOK = (
    "named .xlsx but it is not an Excel workbook (a CSV file renamed?); "
    "save it from the spreadsheet as .xlsx, or rename it .csv"
)


def check_suffix(path: Path, name: str) -> None:
    """Refuse a file whose name says it is not a table (``.pdf``, ``.docx``...).

    Raises:
        FileFormatError: the suffix is not ``.csv``, ``.tsv``, ``.txt``, ``.xlsx`` or ``.xlsm``.
    """
    suffix = path.suffix.lower()
    if suffix not in _TEXT_SUFFIXES | _XLSX_SUFFIXES:
        raise FileFormatError(name, f"a {suffix} file; expected a .csv or .xlsx file")


def _is_xlsx(path: Path) -> bool:
    return path.suffix.lower() in _XLSX_SUFFIXES


def write_sheet(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """Write *header* and *rows* to *path* (XLSX for ``.xlsx``, CSV otherwise), neutralised.

    Every cell goes through :func:`~schoolsync.bulk.neutralise`, so no value can run as a
    formula when the file is opened in a spreadsheet. XLSX files cannot hold control characters
    (other than tab and new lines), so those are dropped there. CSV files are UTF-8 with a
    byte-order mark (Excel then reads accents correctly).
    """
    target = Path(path)
    with target.open("wb") as handle:
        write_stream(handle, header, rows, xlsx=_is_xlsx(target))
    return target


def write_stream(
    stream: BinaryIO, header: Sequence[str], rows: Sequence[Sequence[str]], *, xlsx: bool
) -> None:
    """:func:`write_sheet` to an open binary stream (a web response, a buffer)."""

    def safe(value: str) -> str:
        # XLSX cannot hold most control characters: they are dropped (CSV keeps them), before
        # neutralising, so that dropping one cannot uncover a formula.
        return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value) if xlsx else value)

    safe_header = [safe(h) for h in header]
    safe_rows = [[safe(c) for c in row] for row in rows]
    if xlsx:
        # Write-only mode streams rows. No neutralised value starts with "=", so openpyxl
        # stores every cell as text, never as a formula.
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet(_SHEET_TITLE)
        sheet.freeze_panes = "B2"
        sheet.append(safe_header)
        for row in safe_rows:
            sheet.append(row)
        workbook.save(stream)
        return
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        writer = csv.writer(text)
        writer.writerow(safe_header)
        writer.writerows(safe_rows)
        text.flush()
    finally:
        text.detach()


def decode_text(data: bytes, name: str) -> str:
    """The text of a CSV file as Excel and MIS exports save it (UTF-8 with or without a
    byte-order mark, UTF-16, Windows-1252), by the shared detection of
    :func:`schoolsync.sources._text.decode_text`.

    Raises:
        FileFormatError: the bytes are none of these (or hold NUL characters: a binary file).
    """
    return shared_decode_text(data, name)[0]


def _read_csv(data: bytes, name: str) -> list[list[str]]:
    """Rows of a CSV file from the header row on (title rows above it are dropped), with the
    encoding and delimiter the shared detection finds."""
    text, layout = shared_decode_text(data, name, expected=BULK_HEADERS)
    try:
        rows = [
            list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
        ]
    except csv.Error as exc:
        raise FileFormatError(name, f"not a readable CSV file ({exc})") from exc
    return rows[layout.header_row - 1 :]


def _read_xlsx(source: BinaryIO, name: str, sheet: str | None) -> list[list[str]]:
    """The rows of the bulk sheet (the named *sheet*, else ``bulk-user-data`` if present, else
    the first), through the one bounded XLSX path."""
    with XlsxWorkbook(source, name) as book:
        if sheet is None and _SHEET_TITLE in book.sheet_names:
            sheet = _SHEET_TITLE
        return [[_cell_text(v) for v in row.values] for row in book.rows(sheet)]


def _frame_sheet(frame: DataFrameLike, name: str) -> BulkSheet:
    """A DataFrame as a bulk sheet: its column names are the header, its rows the data (an
    empty cell, NaN or NaT is blank), numbered by its index."""
    header = [restore(c).strip() for c in frame_header(frame, name)]
    rows: list[tuple[str, ...]] = []
    numbers: list[int] = []
    for number, values in frame_rows(frame):
        cells = tuple(restore(_cell_text(v)) for v in values)
        if any(c.strip() for c in cells):
            rows.append(cells)
            numbers.append(number)
    return BulkSheet(name=name, header=tuple(header), rows=tuple(rows), numbers=tuple(numbers))


def read_sheet(
    source: str | Path | BinaryIO | DataFrameLike,
    *,
    name: str | None = None,
    sheet: str | None = None,
) -> BulkSheet:
    """Read a bulk file (CSV or XLSX) into a :class:`BulkSheet`.

    *source* is a path (XLSX by its ``.xlsx`` suffix), an open binary file, such as an upload
    a web app received (XLSX told by its content), or a pandas or polars DataFrame (its
    column names are the header; problems name a row by the frame's index). *name* is the name
    errors and the change set show (default: the file's name, or ``"DataFrame"``). *sheet* picks
    a workbook's worksheet by name (default: ``bulk-user-data`` when there is one, else the
    first).

    Trailing empty rows and columns are dropped; every cell is restored with
    :func:`~schoolsync.bulk.restore`.

    A path named ``.xlsx`` must hold a workbook (a renamed CSV is refused, saying so); CSV text
    may be UTF-8, UTF-16 or Windows-1252 (see :func:`decode_text`).

    Raises:
        FileFormatError: the file is not readable as CSV/XLSX, is not a table by its name
            (``.pdf``...), or has no header row.
        OSError: the file cannot be opened (missing, a directory).
    """
    if not isinstance(source, str | Path) and is_frame(source):
        return _frame_sheet(cast(DataFrameLike, source), name or "DataFrame")
    if isinstance(source, str | Path):
        path = Path(source)
        shown = name or str(path)
        label = name or path.name
        check_suffix(path, shown)
        data = read_capped(path, shown)
        if _is_xlsx(path) and not data.startswith(_ZIP):
            raise FileFormatError(shown, NOT_A_WORKBOOK)
    else:
        upload = cast(BinaryIO, source)
        data = read_capped(upload, name or str(getattr(upload, "name", "upload")))
        label = shown = name or str(getattr(source, "name", "upload"))
    # A zip container is XLSX, whatever the name says.
    raw = (
        _read_xlsx(io.BytesIO(data), shown, sheet)
        if data.startswith(_ZIP)
        else _read_csv(data, shown)
    )
    while raw and not any(c.strip() for c in raw[-1]):
        raw.pop()
    if not raw:
        raise FileFormatError(shown, "the file is empty; expected a header row", row=1)
    header = [restore(c).strip() for c in raw[0]]
    while header and not header[-1]:
        header.pop()
    width = len(header)
    rows: list[tuple[str, ...]] = []
    for line in raw[1:]:
        cells = [restore(c) for c in line[:width]]
        cells += [""] * (width - len(cells))
        rows.append(tuple(cells))
    return BulkSheet(name=label, header=tuple(header), rows=tuple(rows))
