"""Which column of a plain CSV/XLSX export holds which field: known headings (SIMS, Arbor,
Bromcom, Excel templates), the data officer's own mapping (``--column``, ``--columns``), and
an error that shows the file's own headers with the nearest matches when a field is missing.
"""

from __future__ import annotations

import csv
import itertools
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import click
from rapidfuzz import fuzz, process

from schoolsync.errors import FileFormatError
from schoolsync.sources import PupilColumns, StaffColumns
from schoolsync.sources._text import HEADER_SEARCH_ROWS, detect_csv, find_header_row, norm_header

__all__ = [
    "SYNONYMS",
    "TableHeader",
    "parse_column_options",
    "read_header",
    "resolve_columns",
]

#: Headings recognised for each field, compared by :func:`norm_header` (``"Date_of-Birth"``
#: is ``"date of birth"``). Sources: SIMS (``Adno``, ``Reg``, ``DOB``), Arbor (``Student ID``,
#: ``Registration Form``), Bromcom and Excel templates.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": (
        "id",
        "mis id",
        "misid",
        "person id",
        "pupil id",
        "student id",
        "staff id",
        "employee id",
        "admission number",
        "admission no",
        "adno",
        "sourcedid",
        "reference",
        "external id",
    ),
    "forename": (
        "forename",
        "first name",
        "firstname",
        "legal forename",
        "legal first name",
        "given name",
        "givenname",
    ),
    "surname": (
        "surname",
        "last name",
        "lastname",
        "legal surname",
        "legal last name",
        "family name",
        "familyname",
    ),
    "upn": ("upn", "unique pupil number"),
    "former_upns": ("former upn", "former upns"),
    "preferred_forename": ("preferred forename", "preferred first name", "known as"),
    "preferred_surname": ("preferred surname", "preferred last name"),
    "middle_names": ("middle name", "middle names", "middlename"),
    "date_of_birth": ("date of birth", "dob", "birth date", "birthdate"),
    "gender": ("gender", "sex"),
    "year": (
        "year",
        "year group",
        "nc year",
        "ncyear",
        "year code",
        "national curriculum year",
    ),
    "classes": (
        "class",
        "classes",
        "reg",
        "reg group",
        "registration group",
        "registration form",
        "form",
        "form group",
        "tutor group",
    ),
    "email": ("email", "email address", "e mail"),
    "title": ("title",),
    "staff_code": ("staff code", "initials"),
}
REQUIRED = ("id", "forename", "surname")
_FIELDS = {
    "pupils": tuple(a.name for a in PupilColumns.__attrs_attrs__),
    "staff": tuple(a.name for a in StaffColumns.__attrs_attrs__),
}


@attrs.frozen(kw_only=True)
class TableHeader:
    """The header row of a plain export: its cells, where it is, and how the file was read."""

    cells: tuple[str, ...]
    #: The sheet read (XLSX), or ``None`` for CSV.
    sheet: str | None = None
    #: How the file was read, for the user (``"Windows-1252, semicolon-separated"``).
    read_as: str = ""
    #: Every sheet of a workbook (empty for CSV).
    sheets: tuple[str, ...] = ()


def parse_column_options(pairs: Sequence[str], mapping_file: Path | None) -> dict[str, str]:
    """``--column field=Header`` options and a ``--columns`` mapping file (TOML or JSON, field
    to header) as one mapping (the options win).

    Raises:
        click.UsageError: a pair without ``=``, an unknown field, or an unreadable mapping file.
    """
    found: dict[str, str] = {}
    known = sorted({*_FIELDS["pupils"], *_FIELDS["staff"]})
    if mapping_file is not None:
        try:
            text = mapping_file.read_text(encoding="utf-8-sig")
            raw = (
                json.loads(text) if mapping_file.suffix.lower() == ".json" else tomllib.loads(text)
            )
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise click.UsageError(
                f"--columns {mapping_file.name}: not a readable TOML/JSON mapping ({exc})"
            ) from None
        table = raw.get("columns", raw) if isinstance(raw, dict) else None
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise click.UsageError(
                f'--columns {mapping_file.name}: expected field = "Header" lines, '
                'e.g. id = "Student ID"'
            )
        found.update({str(k): v for k, v in table.items()})
    for pair in pairs:
        field, sep, header = pair.partition("=")
        if not sep or not field.strip() or not header.strip():
            raise click.UsageError(
                f'--column {pair!r}: expected FIELD=HEADER, e.g. id="Student ID"'
            )
        found[field.strip()] = header.strip()
    for field in found:
        if field not in known:
            raise click.UsageError(
                f"--column {field}: not a field; the fields are {', '.join(known)}"
            )
    return found


def _xlsx_header(path: Path, sheet: str | None, kind: str) -> TableHeader:
    from schoolsync.sources.xlsx import XlsxWorkbook

    with XlsxWorkbook(path, path.name) as book:
        names = tuple(book.sheet_names)
        if sheet is not None and sheet not in names:
            raise FileFormatError(
                path.name,
                f"no sheet named {sheet!r}; the workbook's sheets are "
                + ", ".join(repr(n) for n in names),
                field="--sheet",
            )
        first: TableHeader | None = None
        for name in [sheet] if sheet is not None else list(names):
            top = [r.values for r in itertools.islice(book.rows(name), HEADER_SEARCH_ROWS)]
            cells: tuple[str, ...] = ()
            if top:
                at = find_header_row(top, _all_synonyms(kind))
                cells = tuple("" if c is None else str(c).strip() for c in top[at])
            found = TableHeader(cells=cells, sheet=name, read_as=f"sheet {name!r}", sheets=names)
            first = first or found
            if not _missing(resolve_columns(cells, kind, {})):
                return found
        return first or TableHeader(cells=(), sheets=names)


def _all_synonyms(kind: str) -> list[str]:
    return [s for f in _FIELDS[kind] for s in SYNONYMS.get(f, ())]


def read_header(path: Path, *, kind: str, sheet: str | None = None) -> TableHeader:
    """The header row of a CSV or XLSX export, found below any title rows by the shared
    detection. For a workbook without *sheet*, the first sheet with the needed columns (so a
    cover page before the data is passed over).

    Raises:
        FileFormatError: the file cannot be read.
    """
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _xlsx_header(path, sheet, kind)
    layout = detect_csv(lambda: path.open("rb"), path.name, expected=_all_synonyms(kind))
    with path.open("rb") as raw:
        text = raw.read(256 * 1024).decode(layout.encoding, errors="replace").lstrip("\ufeff")
    rows = list(csv.reader(text.splitlines()[: layout.header_row], delimiter=layout.delimiter))
    cells = tuple(c.strip() for c in rows[layout.header_row - 1]) if rows else ()
    return TableHeader(cells=cells, read_as=layout.describe())


def resolve_columns(header: Sequence[str], kind: str, mapping: Mapping[str, str]) -> dict[str, str]:
    """Field -> the file's header, for the fields this header holds: the user's *mapping*
    first (a mapped header the file lacks is skipped), then the known headings."""
    by_norm = {norm_header(h): h for h in header if h.strip()}
    found: dict[str, str] = {}
    for field in _FIELDS[kind]:
        mapped = mapping.get(field)
        if mapped is not None and norm_header(mapped) in by_norm:
            found[field] = by_norm[norm_header(mapped)]
            continue
        for name in SYNONYMS.get(field, ()):
            if name in by_norm:
                found[field] = by_norm[name]
                break
    return found


def _missing(found: Mapping[str, str]) -> list[str]:
    return [f for f in REQUIRED if f not in found]


def columns_for(
    path: Path, header: TableHeader, kind: str, mapping: Mapping[str, str]
) -> PupilColumns | StaffColumns:
    """The column mapping to read *path* with.

    Raises:
        FileFormatError: a needed field (id, forename, surname) has no column. The message
            lists the file's own headers, the nearest match for each missing field, and how to
            name the column (``--column``); for a workbook, its other sheets.
    """
    found = resolve_columns(header.cells, kind, mapping)
    missing = _missing(found)
    if missing:
        raise FileFormatError(path.name, _missing_message(header, missing, found, kind), row=1)
    if kind == "pupils":
        return PupilColumns(**found)
    return StaffColumns(**found)


def _missing_message(
    header: TableHeader, missing: Sequence[str], found: Mapping[str, str], kind: str
) -> str:
    spare = [h for h in header.cells if h.strip() and h not in found.values()]
    hints: list[str] = []
    for field in missing:
        best = None
        if spare:
            best = process.extractOne(
                field.replace("_", " "),
                spare,
                scorer=fuzz.WRatio,
                processor=norm_header,
                score_cutoff=60,
            )
            for synonym in SYNONYMS[field]:
                guess = process.extractOne(
                    synonym, spare, scorer=fuzz.WRatio, processor=norm_header, score_cutoff=60
                )
                if guess is not None and (best is None or guess[1] > best[1]):
                    best = guess
        if best is not None:
            hints.append(f'--column {field}="{best[0]}"?')
    where = f" on sheet {header.sheet!r}" if header.sheet else ""
    shown = ", ".join(repr(h) for h in header.cells[:20] if h.strip()) or "(none)"
    text = (
        f"cannot find the column(s) for {', '.join(missing)}{where}; the file's headers are {shown}"
    )
    if hints:
        text += "; nearest: " + " ".join(hints)
    else:
        text += f"; name them with --column FIELD=HEADER (fields: {', '.join(REQUIRED)})"
    others = [s for s in header.sheets if s != header.sheet]
    if others:
        text += "; other sheets: " + ", ".join(repr(s) for s in others) + " (use --sheet)"
    return text
