"""Shared machinery of the file readers: tolerant CSV headers, encodings, dates and warnings.

Everything here streams: a :class:`CsvFile` reads one row at a time, so a reader's memory does
not grow with the size of a file (only with the indexes the reader chooses to keep).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import IO

import attrs
from rapidfuzz import fuzz, process

from schoolsync.errors import FileFormatError, InvalidIdentifierError, SchoolsyncError
from schoolsync.identifiers import Upn
from schoolsync.sources._text import HEADER_SEARCH_ROWS, CsvLayout, detect_csv, find_header_row

__all__ = [
    "ARCHIVE_ERRORS",
    "CsvFile",
    "FileSpec",
    "Row",
    "SourceWarning",
    "Warnings",
    "date_problem",
    "parse_date",
    "parse_datetime",
    "parse_upn",
    "split_list",
]

_log = logging.getLogger(__name__)

#: Opens a file as binary, as a context manager.
Opener = Callable[[], AbstractContextManager[IO[bytes]]]

#: A header at least this similar (rapidfuzz ratio, 0-100) to an expected column that is not
#: present is read as that column, with a warning.
FUZZY_ACCEPT = 85.0
#: A header at least this similar is suggested ("did you mean") when a required column is missing.
FUZZY_SUGGEST = 60.0


@attrs.frozen(kw_only=True)
class SourceWarning:
    """Something a reader tolerated: where it was, what it was, and how often it happened."""

    file: str
    message: str
    row: int | None = None
    field: str | None = None
    count: int = 1
    #: Where in an XML file (a CTF's XPath), like :attr:`FileFormatError.path`.
    path: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.path:
            where += f", at {self.path}"
        if self.field:
            where += f", field {self.field!r}"
        more = f" ({self.count} rows like this)" if self.count > 1 else ""
        return f"{where}: {self.message}{more}"


class Warnings:
    """Collects warnings; repeats of the same kind in the same file and field are counted once.

    A kind is the message with any quoted value left out, so a million rows with a d/m/yyyy date
    give one warning with a count, naming the first row.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str | None, str], SourceWarning] = {}
        self.headers_read: set[str] = set()

    def add(
        self,
        file: str,
        message: str,
        *,
        row: int | None = None,
        field: str | None = None,
        kind: str | None = None,
        path: str | None = None,
    ) -> None:
        """Record a warning; *kind* (default: *message*) decides what counts as a repeat.
        *path* is an XML location (the first one is kept for repeats)."""
        key = (file, field, kind if kind is not None else message)
        seen = self._items.get(key)
        if seen is None:
            self._items[key] = SourceWarning(
                file=file, message=message, row=row, field=field, path=path
            )
        else:
            self._items[key] = attrs.evolve(seen, count=seen.count + 1)

    def details(self) -> list[SourceWarning]:
        """Every warning, in the order first seen."""
        return list(self._items.values())

    def messages(self) -> list[str]:
        """Every warning as one line of text, in the order first seen."""
        return [str(w) for w in self._items.values()]


@attrs.frozen(kw_only=True)
class FileSpec:
    """The columns of one file: required, used, known (valid but unused) and aliases.

    ``aliases`` maps another spelling (another spec version, another vendor) to the canonical
    name; a header matching an alias is read silently. ``extension_prefixes`` name vendor
    extension columns (``ext_``, ``metadata.``) that are valid and ignored.
    """

    name: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    known: tuple[str, ...] = ()
    aliases: Mapping[str, str] = attrs.field(factory=dict)
    extension_prefixes: tuple[str, ...] = ("ext_", "ext.", "metadata.")
    #: Report unknown columns in one warning (for mapped files with many unused columns).
    summarise_unknown: bool = False
    #: How errors name a canonical column the file lacks (for formats whose own headers are
    #: aliases: the classic SDS ``School DfE Number`` for ``orgSourcedIds``).
    labels: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def used(self) -> tuple[str, ...]:
        """Required and optional columns: the ones the reader reads."""
        return self.required + self.optional


#: What reading a zip member can raise on a damaged or unsupported archive.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


#: The longest line a CSV reader reads (characters); a longer line is refused before it is
#: held in memory whole (a 500 MB file with no line break, a zip member of endless commas).
MAX_LINE_CHARS = 1024 * 1024


def _bounded_lines(text: IO[str], name: str, limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of *text*, each read with a bound: a line longer than *limit* is refused."""
    number = 0
    while True:
        line = text.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            raise FileFormatError(
                name,
                f"a line longer than {limit:,} characters (not a CSV file a person or an MIS "
                "would write)",
                row=number,
                code="line_too_long",
            )
        yield line


def _no_nul(lines: Iterator[str], name: str) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            raise FileFormatError(
                name, "the file holds a NUL byte; it is not a text CSV", row=number
            )
        yield line


def _no_warning(
    file: str,
    message: str,
    *,
    row: int | None = None,
    field: str | None = None,
    kind: str | None = None,
    path: str | None = None,
) -> None:
    """Drop a warning (header warnings are given on the first pass over a file only)."""


class Row:
    """One data row of a :class:`CsvFile`: values by canonical column name, and the row number."""

    __slots__ = ("_cells", "_header", "_index", "number")

    def __init__(
        self, cells: list[str], index: Mapping[str, int], number: int, header: Sequence[str] = ()
    ) -> None:
        self._cells = cells
        self._index = index
        self._header = header
        self.number = number

    def header(self, column: str) -> str:
        """The file's own header for *column* (e.g. ``"ID"`` read as ``userSourcedId``), for
        naming the field in errors; *column* itself when the file has no such column."""
        i = self._index.get(column)
        if i is None or i >= len(self._header):
            return column
        return self._header[i].strip() or column

    def get(self, column: str) -> str:
        """The stripped value of *column*; ``""`` when the column or the cell is absent."""
        i = self._index.get(column)
        if i is None or i >= len(self._cells):
            return ""
        return self._cells[i].strip()

    def values(self, columns: Sequence[str]) -> list[str]:
        """The stripped values of several columns at once (``""`` where absent)."""
        cells, index, n = self._cells, self._index, len(self._cells)
        return [
            cells[i].strip() if (i := index.get(c)) is not None and i < n else "" for c in columns
        ]

    def has(self, column: str) -> bool:
        """Whether the file has this column at all."""
        return column in self._index


class CsvFile:
    """A CSV file read against a :class:`FileSpec`, one :class:`Row` at a time.

    Each call of :meth:`rows` reads the file again from the start (a streaming pass). Header
    problems are found on every pass and reported to *warnings* (repeats are merged).

    Header rules: an exact or alias match is silent; a match ignoring case, or a misspelling
    close to an expected column that is absent (rapidfuzz ratio >= 85), is read as that column
    with a "did you mean" warning; vendor extension columns are ignored with one warning; any
    other column is ignored with an "unknown column" warning. A missing required column is a
    :class:`~schoolsync.errors.FileFormatError` (row 1), with a suggestion when one is close.
    """

    def __init__(self, opener: Opener, name: str, spec: FileSpec, warnings: Warnings) -> None:
        self.opener = opener
        self.name = name
        self.spec = spec
        self.warnings = warnings
        self._layout: CsvLayout | None = None

    @property
    def layout(self) -> CsvLayout:
        """The file's encoding, delimiter and header row (detected once, on first use).

        Raises:
            FileFormatError: the file is not text in an encoding schoolsync reads.
        """
        if self._layout is None:
            try:
                self._layout = detect_csv(self.opener, self.name, expected=self._expected())
                _log.debug("%s read as %s", self.name, self._layout.describe())
            except ARCHIVE_ERRORS as e:
                raise FileFormatError(self.name, f"cannot be unzipped ({e})") from None
            except OSError as e:
                raise FileFormatError(self.name, f"cannot be read: {e.strerror or e}") from None
        return self._layout

    def _expected(self) -> list[str]:
        spec = self.spec
        return [*spec.used, *spec.known, *spec.aliases, *spec.labels.values()]

    def _resolve(self, header: Sequence[str]) -> dict[str, int]:
        first = self.name not in self.warnings.headers_read
        self.warnings.headers_read.add(self.name)
        warn = self.warnings.add if first else _no_warning
        spec = self.spec
        index: dict[str, int] = {}
        canonical = {c: c for c in (*spec.used, *spec.known)}
        canonical.update(spec.aliases)
        lower = {k.lower(): v for k, v in canonical.items()}
        pending: list[tuple[int, str]] = []
        extensions: list[str] = []
        unknown: list[str] = []
        seen: set[str] = set()
        for i, cell in enumerate(header):
            h = cell.strip()
            if not h:
                continue
            if h in seen:
                raise FileFormatError(
                    self.name, "the column appears twice in the header", row=1, field=h
                )
            seen.add(h)
            if h in canonical:
                target = canonical[h]
                if target not in index:
                    index[target] = i
                continue
            if h.lower() in lower and lower[h.lower()] not in index:
                target = lower[h.lower()]
                index[target] = i
                warn(self.name, f"column {h!r} read as {target!r} (letter case differs)", field=h)
                continue
            if h.lower().startswith(spec.extension_prefixes):
                extensions.append(h)
                continue
            pending.append((i, h))
        for i, h in pending:
            choices = [c for c in (*spec.used, *spec.known) if c not in index]
            best = process.extractOne(h, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_ACCEPT)
            if best is not None:
                target = best[0]
                index[target] = i
                warn(
                    self.name,
                    f"column {h!r} read as {target!r} (did you mean {target!r}?)",
                    field=h,
                )
            elif spec.summarise_unknown:
                unknown.append(h)
            else:
                warn(self.name, f"unknown column {h!r} ignored", field=h)
        if unknown:
            warn(self.name, "columns not mapped, not read: " + ", ".join(unknown))
        if extensions:
            warn(self.name, "vendor extension columns not read: " + ", ".join(extensions))
        for column in spec.required:
            if column not in index:
                hint = ""
                spare = [h for _, h in pending]
                best = process.extractOne(
                    spec.labels.get(column, column),
                    spare,
                    scorer=fuzz.ratio,
                    score_cutoff=FUZZY_SUGGEST,
                )
                if best is not None:
                    hint = f" (did you mean {best[0]!r}?)"
                label = spec.labels.get(column, column)
                raise FileFormatError(
                    self.name, f"required column {label!r} is missing{hint}", row=1, field=label
                )
        return index

    def _cells(self) -> Iterator[list[str]]:
        """The raw rows of the file, header first (subclasses read other formats)."""
        layout = self.layout
        number = 0
        try:
            with self.opener() as raw:
                text = io.TextIOWrapper(raw, encoding=layout.encoding, newline="")
                lines: Iterator[str] = _bounded_lines(text, self.name)
                if layout.encoding not in {"utf-8", "cp1252"}:  # a byte-order mark kept
                    lines = (
                        line.lstrip("\ufeff") if i == 0 else line for i, line in enumerate(lines)
                    )
                for cells in csv.reader(
                    _no_nul(lines, self.name), delimiter=layout.delimiter, strict=True
                ):
                    number += 1
                    yield cells
        except UnicodeDecodeError:
            raise FileFormatError(
                self.name,
                f"the file is not valid {layout.encoding_label}; save it as CSV UTF-8",
                row=self._bad_utf8_line(),
            ) from None
        except csv.Error as e:
            raise FileFormatError(self.name, f"broken CSV: {e}", row=number + 1) from None
        except ARCHIVE_ERRORS as e:
            raise FileFormatError(self.name, f"cannot be unzipped ({e})", row=number + 1) from None
        except OSError as e:
            raise FileFormatError(self.name, f"cannot be read: {e.strerror or e}") from None

    def _bad_utf8_line(self) -> int | None:
        """The number of the first line that is not UTF-8 (read again, only on that error:
        text is decoded in blocks, so the row being read is not where the bad byte is)."""
        try:
            with self.opener() as raw:
                for number, line in enumerate(raw, start=1):
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        return number
        except (OSError, SchoolsyncError, *ARCHIVE_ERRORS):
            return None
        return None

    def rows(self) -> Iterator[Row]:
        """Every data row, streamed. Blank lines are skipped (but counted in row numbers).

        Raises:
            FileFormatError: bad encoding, a broken file, a missing required column, a duplicate
                header, or a row with more values than the header has columns.
        """
        cells_iter = self._cells()
        top = list(itertools.islice(cells_iter, HEADER_SEARCH_ROWS))
        if not any(any(c.strip() for c in r) for r in top):
            raise FileFormatError(self.name, "the file is empty (no header row)") from None
        at = find_header_row(top, self._expected())
        header = top[at]
        first_pass = self.name not in self.warnings.headers_read
        encoding = getattr(self._layout, "encoding", "utf-8")
        if first_pass and encoding not in {"utf-8", "utf-8-sig"}:
            self.warnings.add(self.name, f"read as {self.layout.encoding_label} text (not UTF-8)")
        if at and first_pass:
            self.warnings.add(
                self.name,
                f"the header is on row {at + 1}; the row(s) above it were read as titles and "
                "skipped",
                row=at + 1,
            )
        index = self._resolve(header)
        width = len(header)
        number = at + 1
        for cells in itertools.chain(top[at + 1 :], cells_iter):
            number += 1
            if not cells or (not cells[0].strip() and not any(c.strip() for c in cells)):
                continue
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                raise FileFormatError(
                    self.name,
                    f"the row has {len(cells)} values but the header has {width} columns",
                    row=number,
                )
            yield Row(cells, index, number, header)


# ---------------------------------------------------------------------------------------------
# Values

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SLASH_DATE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def date_problem(year: int, month: int, day: int, *, day_first: bool = True) -> str:
    """Why *year*-*month*-*day* is not a date, in words (``"February has no 31st"``)."""
    if not 1 <= month <= 12:
        if day_first and 1 <= day <= 12 and 13 <= month <= 31:
            return f"there is no month {month}; is the file m/d/yyyy (US order)?"
        return f"there is no month {month}"
    if day < 1:
        return f"there is no day {day}"
    if month == 2 and day == 29:
        return f"{year} is not a leap year, so February has no 29th"
    if not 1 <= year:
        return f"there is no year {year}"
    return f"{_MONTHS[month - 1]} has no {_ordinal(day)}"


def _bad_date(
    file: str,
    row: int | None,
    field: str,
    value: str,
    path: str | None = None,
    why: str = "expected yyyy-mm-dd or dd/mm/yyyy",
) -> FileFormatError:
    error = FileFormatError(
        file, f"{value!r} is not a date ({why})", row=row, field=field, path=path
    )
    error.value = value
    return error


def parse_date(
    value: str,
    *,
    file: str,
    field: str,
    warnings: Warnings,
    row: int | None = None,
    path: str | None = None,
    day_first: bool = True,
) -> date:
    """Read a date: ISO ``yyyy-mm-dd`` (or an ISO date-time, whose date is taken); ``d/m/yyyy``
    (or ``m/d/yyyy`` when *day_first* is false) is tolerated with a warning.

    Raises:
        FileFormatError: anything else, or a date that does not exist.
    """
    v = value.strip()
    try:
        if _ISO_DATE.match(v):
            y, mo, d = int(v[:4]), int(v[5:7]), int(v[8:10])
            try:
                return date(y, mo, d)
            except ValueError:
                raise _bad_date(file, row, field, v, path, date_problem(y, mo, d)) from None
        m = _SLASH_DATE.match(v)
        if m:
            a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
            d, mo = (a, b) if day_first else (b, a)
            try:
                result = date(y, mo, d)
            except ValueError:
                why = date_problem(y, mo, d, day_first=day_first)
                raise _bad_date(file, row, field, v, path, why) from None
            order = "d/m/yyyy" if day_first else "m/d/yyyy"
            warnings.add(
                file,
                f"slash date read as {order}",  # no value: a birth date is personal data
                row=row,
                field=field,
                kind=f"date as {order}",
                path=path,
            )
            return result
        if len(v) > 10 and _ISO_DATE.match(v[:10]) and v[10] in "T ":
            return parse_datetime(
                v, file=file, field=field, warnings=warnings, row=row, path=path
            ).date()
    except FileFormatError:
        raise
    except ValueError:
        pass
    order = "dd/mm/yyyy" if day_first else "mm/dd/yyyy"
    raise _bad_date(file, row, field, v, path, f"expected yyyy-mm-dd or {order}")


def parse_datetime(
    value: str,
    *,
    file: str,
    field: str,
    warnings: Warnings,
    row: int | None = None,
    path: str | None = None,
    day_first: bool = True,
) -> datetime:
    """Read an ISO 8601 date-time (``Z`` or an offset; no offset means UTC). A bare date, ISO or
    ``d/m/yyyy`` (warned), is read as midnight UTC.

    Raises:
        FileFormatError: anything else.
    """
    v = value.strip()
    if len(v) > 10:
        try:
            result = datetime.fromisoformat(v)
        except ValueError:
            raise _bad_date(file, row, field, v, path) from None
        if result.tzinfo is None:
            result = result.replace(tzinfo=UTC)
        return result
    d = parse_date(
        v, file=file, field=field, warnings=warnings, row=row, path=path, day_first=day_first
    )
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def parse_upn(
    value: str,
    *,
    file: str,
    field: str,
    row: int | None = None,
    path: str | None = None,
) -> Upn | None:
    """Read a UPN: blank or an MIS placeholder (``UN1``...) is ``None``.

    Raises:
        FileFormatError: a malformed UPN (length, characters, check letter), with the census
            error code as ``code``. An LA code missing from the LA list is accepted.
    """
    try:
        return Upn.parse_optional(value)
    except InvalidIdentifierError as e:
        raise FileFormatError(
            file, e.reason, row=row, field=field, value=value, path=path, code=e.code
        ) from None


def split_list(value: str) -> list[str]:
    """Split a OneRoster multi-value cell (``"09,10,11"``) into stripped, non-blank parts."""
    return [p.strip() for p in value.split(",") if p.strip()]
