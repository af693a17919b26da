"""Read (and write) the "School Upload" spreadsheet: one row per school with name, postcode, URN.

The reader only reads cells into :class:`~schoolsync.trusts.SchoolUploadRow` values (keeping
each row's sheet row number); validation is the pure
:func:`~schoolsync.trusts.plan_school_upload`, and
:meth:`~schoolsync.access.lifecycle.TrustLifecycle.add_schools_from_upload` applies it.

Both ``.xlsx`` (openpyxl) and ``.csv`` (UTF-8, with or without BOM, or Windows-1252) are read.
The header row may sit below a title row or two; its columns are found by name, in any order
(``School name``/``Name``, ``Postcode``/``Post code``, ``URN``); other columns are ignored.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from schoolsync.bulk._cells import neutralise, restore
from schoolsync.errors import FileFormatError
from schoolsync.sources._frames import DataFrameLike, frame_header, frame_rows, is_frame
from schoolsync.sources._limits import read_capped
from schoolsync.sources._text import decode_text
from schoolsync.sources.xlsx import XlsxWorkbook
from schoolsync.trusts import SchoolUploadRow

__all__ = [
    "SchoolUploadSheet",
    "read_school_upload",
    "write_school_upload",
]

_HEADERS: dict[str, frozenset[str]] = {
    "name": frozenset({"name", "school name", "school", "establishment name", "establishmentname"}),
    "postcode": frozenset({"postcode", "post code", "postal code", "zip code"}),
    "urn": frozenset({"urn", "school urn", "unique reference number", "establishment urn"}),
}
#: How many rows from the top are searched for the header row.
HEADER_SEARCH_ROWS = 10


@attrs.frozen(kw_only=True)
class SchoolUploadSheet:
    """The rows of a School Upload file, as text, with the file's name for error messages."""

    file: str
    rows: tuple[SchoolUploadRow, ...]


def _norm(value: object) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(value).lower()).strip()


def _cell_text(value: object) -> str:
    """A cell as text: whole floats lose their ``.0`` (URNs typed as numbers into Excel), and a
    neutralised value (see :func:`write_school_upload`) is restored."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return restore(str(value).strip())


def _rows_from(file: str, raw_rows: Iterable[tuple[int, Sequence[Any]]]) -> SchoolUploadSheet:
    iterator = iter(raw_rows)
    columns: dict[str, int] | None = None
    for seen, (_number, cells) in enumerate(iterator, start=1):
        found: dict[str, int] = {}
        for index, cell in enumerate(cells):
            text = _norm(cell) if cell is not None else ""
            for key, names in _HEADERS.items():
                if text in names and key not in found:
                    found[key] = index
        if len(found) == len(_HEADERS):
            columns = found
            break
        if seen >= HEADER_SEARCH_ROWS:
            break
    if columns is None:
        raise FileFormatError(
            file,
            "no header row with the columns School name, Postcode and URN was found "
            f"in the first {HEADER_SEARCH_ROWS} rows",
            code="header_missing",
        )
    rows: list[SchoolUploadRow] = []
    for number, cells in iterator:
        values = {
            key: _cell_text(cells[index]) if index < len(cells) else ""
            for key, index in columns.items()
        }
        if not any(values.values()):
            continue  # a blank line
        rows.append(
            SchoolUploadRow(
                row=number, name=values["name"], postcode=values["postcode"], urn=values["urn"]
            )
        )
    return SchoolUploadSheet(file=file, rows=tuple(rows))


def _csv_rows(data: bytes, file: str) -> Iterator[tuple[int, list[str]]]:
    """The rows of a CSV upload by the shared detection (encoding, delimiter), numbered."""
    text, layout = decode_text(data, file, expected=[n for ns in _HEADERS.values() for n in ns])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    yield from enumerate(reader, start=1)


def _xlsx_rows(path: Path, sheet: str | None) -> list[tuple[int, tuple[Any, ...]]]:
    """Every row of the sheet (upload sheets are small; the workbook is closed at once)."""
    with XlsxWorkbook(path, path.name) as book:
        return [(row.number, row.values) for row in book.rows(sheet)]


def read_school_upload(
    path: str | Path | DataFrameLike, *, sheet: str | None = None
) -> SchoolUploadSheet:
    """Read a School Upload file (``.xlsx`` or ``.csv``), or a pandas or polars DataFrame with
    the same columns, into rows of text.

    Args:
        path: the file, or a DataFrame (each row's ``row`` is then its index label).
        sheet: for ``.xlsx``, the worksheet to read (default: the first).

    Raises:
        FileFormatError: the file is not a readable spreadsheet or has no header row with
            the three columns.
    """
    if not isinstance(path, str | Path):
        if not is_frame(path):
            raise FileFormatError(
                "School Upload",
                f"expected a file path or a pandas or polars DataFrame, not a "
                f"{type(path).__name__}",
            )
        header = frame_header(path, "DataFrame")
        return _rows_from("DataFrame", itertools.chain([(0, header)], frame_rows(path)))
    path = Path(path)
    file = path.name
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _rows_from(file, _xlsx_rows(path, sheet))
        if suffix in (".csv", ".txt"):
            return _rows_from(file, _csv_rows(read_capped(path, file), file))
    except FileFormatError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        csv.Error,
        zipfile.BadZipFile,
    ) as exc:
        raise FileFormatError(file, f"cannot read the file: {exc}", code="unreadable") from exc
    raise FileFormatError(
        file, "a School Upload must be an .xlsx or .csv file", value=suffix, code="file_type"
    )


def write_school_upload(path: str | Path, rows: Iterable[tuple[str, str, str]]) -> Path:
    """Write a School Upload file (``.xlsx`` or ``.csv``): a header, then (name, postcode, URN) rows.

    Every cell is neutralised (:func:`schoolsync.bulk.neutralise`: a value starting with ``=``,
    ``+``, ``-`` or ``@`` gets a leading apostrophe), so no cell runs as a formula when the file
    is opened; the reader undoes it. XLSX cells lose control characters a workbook cannot hold.

    Hosts use it to hand out a filled-in or empty template; tests use it to make files.
    """
    path = Path(path)
    header = ("School name", "Postcode", "URN")
    if path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows([[neutralise(c) for c in row] for row in rows])
        return path
    workbook = openpyxl.Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = "School Upload"
    ws.append(header)
    for row in rows:
        # Neutralised, no cell starts with "=": openpyxl writes text, never a live formula.
        ws.append([neutralise(ILLEGAL_CHARACTERS_RE.sub("", c)) for c in row])
    workbook.save(path)
    return path
