"""The one bounded XLSX reading path: every schoolsync reader of ``.xlsx`` files uses it.

The workbook's parts are streamed through expat (no DTDs, no entities) straight out of the zip,
one row at a time. Memory and time follow what the file really holds, not what it claims:

- a row is only as wide as its last real cell, and cells beyond ``max_columns`` are counted,
  not stored (a cell at column XFD cannot pad every row to 16,384 cells);
- no ``<dimension>`` is believed and no empty cell is materialised;
- shared strings are capped in number and in characters, each cell in length (Excel's own
  32,767), and the text a sheet yields in total, so a string repeated by reference cannot
  multiply into gigabytes;
- zip members are bounded by :mod:`schoolsync.sources._zip` (size, inflation ratio), and a
  damaged member or malformed XML is a :class:`~schoolsync.errors.FileFormatError`.

>>> from schoolsync.sources.xlsx import XlsxWorkbook  # doctest: +SKIP
>>> with XlsxWorkbook("pupils.xlsx") as book:  # doctest: +SKIP
...     for row in book.rows(sheet="Pupils"):
...         print(row.number, row.values)
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple
from xml.parsers import expat

import attrs
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

from schoolsync.errors import FileFormatError
from schoolsync.sources._zip import ZipLimits, open_member, open_zip

__all__ = ["CellValue", "XlsxLimits", "XlsxRow", "XlsxWorkbook", "read_xlsx"]

#: A cell's value: text, a number, a truth value, a date-time (by the cell's number format),
#: or ``None`` for an empty cell.
CellValue = str | int | float | bool | datetime | None

_CHUNK = 64 * 1024
#: Worksheet and shared-string XML is a few levels deep; deeper nesting is refused.
_MAX_DEPTH = 64
#: The most rows a worksheet holds (Excel's limit).
MAX_ROWS = 1_048_576
#: The most columns a worksheet holds (Excel's limit, column XFD).
MAX_SHEET_COLUMNS = 16_384


@attrs.frozen(kw_only=True)
class XlsxLimits:
    """The bounds of one XLSX read (see ``docs/security.md``).

    Attributes:
        max_columns: cells beyond this column are counted in :attr:`XlsxRow.beyond`, not read.
        max_rows: a row numbered beyond this is refused (Excel's own limit by default).
        max_cell_chars: a longer cell is refused (Excel's own limit by default).
        max_shared_strings: the most shared strings a workbook may declare.
        max_shared_chars: the most characters all shared strings may hold together.
        max_text_chars: the most characters of text one sheet may yield in total.
        max_events_per_byte: the most XML events (a start or an end tag) a part may hold per
            compressed byte, once past ``event_floor`` (a real sheet holds one to three; a
            sheet of empty cells compressed a thousand times, hundreds). Reading time follows
            events, so this bounds it by the file's real size.
        event_floor: parts with fewer events are never refused for their density.
        zip: the bounds on each zip member (inflated size and ratio).
    """

    max_columns: int = 1_024
    max_rows: int = MAX_ROWS
    max_cell_chars: int = 32_767
    max_shared_strings: int = 1_000_000
    max_shared_chars: int = 16 * 1024 * 1024
    max_text_chars: int = 64 * 1024 * 1024
    max_events_per_byte: int = 4
    event_floor: int = 1_000_000
    zip: ZipLimits = attrs.field(factory=ZipLimits)


class XlsxRow(NamedTuple):
    """One worksheet row: its 1-based number, its values (trailing empty cells dropped) and how
    many non-empty cells lay beyond :attr:`XlsxLimits.max_columns` (not read).

    A named tuple: a sheet may hold a million rows, and each is made in a few tens of
    nanoseconds."""

    number: int
    values: tuple[CellValue, ...]
    beyond: int = 0


def _local(name: str) -> str:
    return name.rpartition(" ")[2]


def _attr(attrs_: dict[str, str], local: str) -> str | None:
    """An attribute by its local name, whatever namespace it is in."""
    if local in attrs_:
        return attrs_[local]
    for key, value in attrs_.items():
        if _local(key) == local:
            return value
    return None


_COLUMN = re.compile(r"([A-Za-z]{1,3})")
_DIGITS = "0123456789"
#: Column letters -> 0-based index, filled as letters are met (at most Excel's 16,384 columns
#: and the few malformed spellings a sheet may hold, bounded below).
_COLUMNS: dict[str, int] = {}
_CACHE_LIMIT = 20_000


def _column_index(ref: str | None, previous: int) -> int:
    """0-based column of a cell reference like ``B7`` (the next column when absent)."""
    if not ref:
        return previous + 1
    letters = ref.rstrip(_DIGITS)
    index = _COLUMNS.get(letters)
    if index is not None:
        return index
    match = _COLUMN.match(ref)
    if match is None:
        return previous + 1
    index = 0
    for letter in match.group(1).upper():
        index = index * 26 + ord(letter) - 64
    index -= 1
    if len(_COLUMNS) < _CACHE_LIMIT and letters == match.group(1):
        _COLUMNS[letters] = index
    return index


def _tag_cache() -> Callable[[str], str]:
    """A per-part lookup of a tag's local name, for a parser without namespace processing
    (``x:c`` -> ``c``; one ``rpartition`` per distinct tag)."""
    seen: dict[str, str] = {}

    def local(tag: str) -> str:
        found = seen.get(tag)
        if found is None:
            found = tag.rpartition(":")[2]
            if len(seen) < 1_000:
                seen[tag] = found
        return found

    return local


class _Parse:
    """An expat parser fed from a stream, with DTDs and entities refused."""

    def __init__(
        self,
        file: str,
        part: str,
        *,
        namespaces: bool = True,
        max_events: int | None = None,
        compressed: int = 0,
    ) -> None:
        self.file = file
        self.part = part
        self.max_events = max_events
        self.compressed = compressed
        # Without namespace processing (the sheet and shared strings, read by local name),
        # expat hands over interned tag names instead of building "uri name" per element.
        parser = expat.ParserCreate(namespace_separator=" ") if namespaces else expat.ParserCreate()
        parser.buffer_text = True
        parser.buffer_size = _CHUNK

        def refuse(*_: object) -> None:
            raise FileFormatError(file, f"hostile XML refused (a DTD in {part})", path=part)

        parser.StartDoctypeDeclHandler = refuse
        parser.EntityDeclHandler = refuse
        parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
        self.parser = parser

    def feed(self, stream: IO[bytes]) -> Iterator[None]:
        """Feed *stream* chunk by chunk, yielding after each chunk (so callers can stream)."""
        events = 0
        try:
            while True:
                chunk = stream.read(_CHUNK)
                if self.max_events is not None:
                    # Counted in C before expat calls back into Python once per event.
                    events += chunk.count(b"<") + chunk.count(b"/>")
                    if events > self.max_events:
                        raise FileFormatError(
                            self.file,
                            f"{self.part} holds more than {self.max_events:,} XML tags for its "
                            f"{self.compressed:,} compressed bytes (a zip bomb?)",
                            path=self.part,
                            code="xlsx_limit",
                        )
                self.parser.Parse(chunk, not chunk)
                yield
                if not chunk:
                    return
        except LookupError:  # an encoding expat does not know
            raise FileFormatError(
                self.file, f"XML in {self.part} declares an unknown encoding", path=self.part
            ) from None
        except expat.ExpatError as exc:
            raise FileFormatError(
                self.file,
                f"malformed XML in {self.part} ({expat.errors.messages[exc.code]})",
                path=self.part,
                row=None,
            ) from None

    def run(self, stream: IO[bytes]) -> None:
        for _ in self.feed(stream):
            pass


_MAIN_PARTS = ("xl/workbook.xml",)
_REL_TYPES = {
    "sharedStrings": "shared",
    "styles": "styles",
}


def _resolve(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), target))


class XlsxWorkbook:
    """An XLSX workbook opened for bounded, streaming reading.

    Args:
        source: a path, the file's bytes, or an open binary file.
        name: the name errors show (default: the path's name, else ``"workbook"``).
        limits: the bounds (see :class:`XlsxLimits`).

    Raises:
        FileFormatError: not a readable workbook (not a zip, damaged, no workbook part).
    """

    def __init__(
        self,
        source: str | Path | bytes | IO[bytes],
        name: str | None = None,
        *,
        limits: XlsxLimits = XlsxLimits(),
    ) -> None:
        if isinstance(source, str | Path):
            self.name = name or Path(source).name
            try:
                handle: IO[bytes] = Path(source).open("rb")  # noqa: SIM115 - closed by close()
            except (OSError, ValueError) as e:  # ValueError: a NUL in the path
                raise FileFormatError(
                    self.name, f"cannot be read: {getattr(e, 'strerror', None) or e}"
                ) from None
        elif isinstance(source, bytes):
            self.name = name or "workbook"
            handle = io.BytesIO(source)
        else:
            self.name = name or str(getattr(source, "name", "workbook"))
            handle = source
        self.limits = limits
        self._handle = handle
        self._owns = isinstance(source, str | Path)
        try:
            self._zip = open_zip(handle, self.name, limits.zip)
        except FileFormatError:
            self._close_handle()
            raise FileFormatError(
                self.name, "not a readable XLSX workbook (not a zip file)", code="unreadable"
            ) from None
        try:
            self._sheets, self._date1904, self._parts = self._read_workbook()
        except BaseException:
            self.close()
            raise
        self._shared: list[str] | None = None
        self._date_styles: frozenset[int] | None = None

    # -- workbook structure --------------------------------------------------------------

    def _stream(self, part: str) -> IO[bytes]:
        return open_member(self._zip, part, self.name, self.limits.zip)

    def _has(self, part: str) -> bool:
        try:
            self._zip.getinfo(part)
        except KeyError:
            return False
        return True

    def _parser(self, part: str, *, namespaces: bool = True) -> _Parse:
        """A parser for *part*, refusing more XML events than its compressed size allows."""
        try:
            compressed = self._zip.getinfo(part).compress_size
        except KeyError:  # opening it will say so
            compressed = 0
        budget = max(self.limits.event_floor, compressed * self.limits.max_events_per_byte)
        return _Parse(
            self.name, part, namespaces=namespaces, max_events=budget, compressed=compressed
        )

    def _parse_part(self, part: str, start: Callable[[str, dict[str, str]], None]) -> None:
        parse = self._parser(part)
        parse.parser.StartElementHandler = start
        with self._stream(part) as stream:
            parse.run(stream)

    def _rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type's last word, resolved target) of *part*."""
        rels_part = posixpath.join(
            posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels"
        )
        found: dict[str, tuple[str, str]] = {}
        if not self._has(rels_part):
            return found

        def start(tag: str, a: dict[str, str]) -> None:
            if _local(tag) == "Relationship" and len(found) < 10_000:
                rid, target = a.get("Id"), a.get("Target")
                if rid and target and a.get("TargetMode") != "External":
                    kind = a.get("Type", "").rpartition("/")[2]
                    found[rid] = (kind, _resolve(part, target))

        self._parse_part(rels_part, start)
        return found

    def _read_workbook(self) -> tuple[list[tuple[str, str]], bool, dict[str, str]]:
        part = next((p for p in _MAIN_PARTS if self._has(p)), None)
        if part is None:
            raise FileFormatError(
                self.name, "not a readable XLSX workbook (no workbook part)", code="unreadable"
            )
        rels = self._rels(part)
        declared: list[tuple[str, str | None]] = []
        date1904 = [False]

        def start(tag: str, a: dict[str, str]) -> None:
            local = _local(tag)
            if local == "sheet" and len(declared) < 10_000:
                declared.append((a.get("name", ""), _attr(a, "id")))
            elif local == "workbookPr":
                date1904[0] = a.get("date1904", "0").lower() in {"1", "true"}

        self._parse_part(part, start)
        sheets: list[tuple[str, str]] = []
        for sheet_name, rid in declared:
            kind, target = rels.get(rid or "", ("", ""))
            if kind == "worksheet" and self._has(target):
                sheets.append((sheet_name, target))
        parts = {
            _REL_TYPES[kind]: target
            for kind, target in rels.values()
            if kind in _REL_TYPES and self._has(target)
        }
        return sheets, date1904[0], parts

    @property
    def sheet_names(self) -> tuple[str, ...]:
        """The names of the workbook's worksheets (chart sheets excluded), in order."""
        return tuple(n for n, _ in self._sheets)

    def _shared_strings(self) -> list[str]:
        if self._shared is not None:
            return self._shared
        strings: list[str] = []
        part = self._parts.get("shared")
        if part is None:
            self._shared = strings
            return strings
        limits = self.limits
        state = {"in_si": False, "in_t": False, "phonetic": 0, "chars": 0, "depth": 0}
        parts: list[str] = []

        def check_length(joined: str) -> None:
            if len(joined) > limits.max_cell_chars:
                raise FileFormatError(
                    self.name,
                    f"a shared string longer than {limits.max_cell_chars:,} characters",
                    path=part,
                    code="xlsx_limit",
                )

        tag_of = _tag_cache()

        def start(tag: str, _a: dict[str, str]) -> None:
            state["depth"] += 1
            if state["depth"] > _MAX_DEPTH:
                raise FileFormatError(
                    self.name, f"XML nested deeper than {_MAX_DEPTH} levels", path=part
                )
            local = tag_of(tag)
            if local == "si":
                state["in_si"] = True
                parts.clear()
            elif local == "t" and state["in_si"] and not state["phonetic"]:
                state["in_t"] = True
            elif local == "rPh":
                state["phonetic"] += 1

        def end(tag: str) -> None:
            state["depth"] -= 1
            local = tag_of(tag)
            if local == "t":
                state["in_t"] = False
            elif local == "rPh":
                state["phonetic"] -= 1
            elif local == "si":
                state["in_si"] = False
                if len(strings) >= limits.max_shared_strings:
                    raise FileFormatError(
                        self.name,
                        f"more than {limits.max_shared_strings:,} shared strings",
                        path=part,
                        code="xlsx_limit",
                    )
                joined = "".join(parts)
                check_length(joined)
                strings.append(joined)

        def text(data: str) -> None:
            if state["in_t"]:
                state["chars"] += len(data)
                if state["chars"] > limits.max_shared_chars:
                    raise FileFormatError(
                        self.name,
                        f"the shared strings hold more than {limits.max_shared_chars:,} characters",
                        path=part,
                        code="xlsx_limit",
                    )
                parts.append(data)
                if len(parts) > 256:  # many runs: keep one string, not a list of pieces
                    joined = "".join(parts)
                    parts[:] = [joined]
                    check_length(joined)

        parse = self._parser(part, namespaces=False)
        parse.parser.StartElementHandler = start
        parse.parser.EndElementHandler = end
        parse.parser.CharacterDataHandler = text
        with self._stream(part) as stream:
            parse.run(stream)
        self._shared = strings
        return strings

    def _date_style_ids(self) -> frozenset[int]:
        if self._date_styles is not None:
            return self._date_styles
        part = self._parts.get("styles")
        formats: dict[int, str] = {}
        xf_formats: list[int] = []
        depth = {"cellXfs": 0}

        def start(tag: str, a: dict[str, str]) -> None:
            local = _local(tag)
            if local == "numFmt":
                with contextlib.suppress(ValueError):
                    formats[int(a.get("numFmtId", ""))] = a.get("formatCode", "")
            elif local == "cellXfs":
                depth["cellXfs"] += 1
            elif local == "xf" and depth["cellXfs"] and len(xf_formats) < 1_000_000:
                try:
                    xf_formats.append(int(a.get("numFmtId", "0")))
                except ValueError:
                    xf_formats.append(0)

        def end(tag: str) -> None:
            if _local(tag) == "cellXfs":
                depth["cellXfs"] -= 1

        if part is not None:
            parse = self._parser(part)
            parse.parser.StartElementHandler = start
            parse.parser.EndElementHandler = end
            with self._stream(part) as stream:
                parse.run(stream)
        dates = set()
        for index, fmt_id in enumerate(xf_formats):
            code = formats.get(fmt_id) or BUILTIN_FORMATS.get(fmt_id)
            if code and is_date_format(code):
                dates.add(index)
        self._date_styles = frozenset(dates)
        return self._date_styles

    # -- rows ----------------------------------------------------------------------------

    def rows(self, sheet: str | None = None) -> Iterator[XlsxRow]:
        """The rows of *sheet* (default: the first worksheet), streamed, from row 1.

        Missing rows are yielded empty, so ``number`` always counts up by one.

        Raises:
            FileFormatError: no such sheet, no worksheet at all, malformed XML, or a limit of
                :class:`XlsxLimits` exceeded (named in the message).
        """
        if sheet is None:
            if not self._sheets:
                raise FileFormatError(self.name, "the workbook has no sheet of rows to read")
            part = self._sheets[0][1]
        else:
            found = [p for n, p in self._sheets if n == sheet]
            if not found:
                raise FileFormatError(
                    self.name,
                    f"no sheet named {sheet!r} (the sheets are: {', '.join(self.sheet_names)})",
                    field="sheet",
                    value=sheet,
                    code="sheet_missing",
                )
            part = found[0]
        return self._rows(part)

    def _rows(self, part: str) -> Iterator[XlsxRow]:
        shared = self._shared_strings()
        dates = self._date_style_ids()
        epoch = CALENDAR_MAC_1904 if self._date1904 else CALENDAR_WINDOWS_1900
        limits = self.limits
        max_columns = limits.max_columns
        max_cell_chars = limits.max_cell_chars
        max_text_chars = limits.max_text_chars
        max_rows = limits.max_rows
        name = self.name
        ready: list[XlsxRow] = []
        values: list[CellValue] = []
        chars: list[str] = []
        # The handlers run once per XML event (millions for a large sheet), so the state of the
        # row and cell being read lives in closure variables and each tag is looked up once.
        number = 0  # the row being read
        last = 0  # the last row finished
        col = -1  # the column of the cell being read
        beyond = 0  # cells beyond max_columns in this row
        text_total = 0  # characters of text the sheet has yielded
        kind: str | None = None  # the cell's t= attribute
        style: str | None = None  # the cell's s= attribute
        capture = False  # inside a <v>, or a <t> of an inline string
        length = 0  # characters captured for the cell
        phonetic = 0
        in_is = False
        depth = 0
        tag_of = _tag_cache()

        def fail(reason: str, code: str = "xlsx_malformed") -> FileFormatError:
            return FileFormatError(name, reason, row=number or None, path=part, code=code)

        def start(tag: str, a: dict[str, str]) -> None:
            nonlocal depth, col, kind, style, capture, length, in_is, phonetic, number, beyond
            depth += 1
            if depth > _MAX_DEPTH:
                raise fail(f"XML nested deeper than {_MAX_DEPTH} levels", code="xlsx_limit")
            local = tag_of(tag)
            if local == "c":
                col = _column_index(a.get("r"), col)
                if col >= MAX_SHEET_COLUMNS:
                    raise fail("a cell beyond column XFD (more columns than a sheet holds)")
                kind = a.get("t")
                style = a.get("s")
                capture = False
                if chars:
                    chars.clear()
                length = 0
            elif local == "v" or (local == "t" and in_is and not phonetic):
                capture = True
            elif local == "row":
                ref = a.get("r")
                try:
                    found = int(ref) if ref else last + 1
                except ValueError:
                    raise fail(f"a row number {str(ref)[:20]!r} that is not a number") from None
                number = found
                if found <= last:
                    raise fail("rows out of order")
                if found > max_rows:
                    raise fail(
                        f"a row numbered beyond {max_rows:,} (more rows than a worksheet can hold)",
                        code="xlsx_limit",
                    )
                col = -1
                beyond = 0
                values.clear()
            elif local == "is":
                in_is = True
            elif local == "rPh":
                phonetic += 1

        def text(data: str) -> None:
            nonlocal length
            if capture:
                length += len(data)
                if length > max_cell_chars:
                    raise fail(
                        f"a cell longer than {max_cell_chars:,} characters", code="xlsx_limit"
                    )
                chars.append(data)

        def value_of() -> CellValue:
            raw = "".join(chars)
            if kind == "s":
                try:
                    found = shared[int(raw)]
                except (ValueError, IndexError):
                    raise fail("a cell refers to a shared string that does not exist") from None
                if len(found) > max_cell_chars:
                    raise fail(
                        f"a cell longer than {max_cell_chars:,} characters", code="xlsx_limit"
                    )
                return found
            if kind in {"inlineStr", "str", "e"}:
                return raw
            if not raw:
                return None
            if kind == "b":
                return raw.strip() in {"1", "true"}
            if kind == "d":
                try:
                    return datetime.fromisoformat(raw)
                except ValueError:
                    return raw
            try:
                number_: int | float = (
                    int(raw) if raw.lstrip("-").isdigit() and len(raw) < 20 else float(raw)
                )
            except ValueError:
                raise fail("a number cell that is not a number") from None
            if style is not None and dates:
                try:
                    if int(style) in dates:
                        result = from_excel(number_, epoch)
                        if isinstance(result, datetime):
                            return result
                except (ValueError, OverflowError, TypeError):
                    pass
            return number_

        def end(tag: str) -> None:
            nonlocal depth, capture, in_is, phonetic, last, beyond, text_total
            depth -= 1
            local = tag_of(tag)
            if local == "c":
                capture = False
                if not chars and kind != "inlineStr":
                    return  # an empty cell: nothing to read, nothing to count
                if col >= max_columns:
                    beyond += 1
                    return
                value = value_of()
                if value is None or value == "":
                    return
                if isinstance(value, str):
                    text_total += len(value)
                    if text_total > max_text_chars:
                        raise fail(
                            f"the sheet yields more than {max_text_chars:,} characters of text",
                            code="xlsx_limit",
                        )
                if col >= len(values):
                    values.extend([None] * (col - len(values)))
                    values.append(value)
                else:
                    values[col] = value
            elif local == "v" or local == "t":
                capture = False
            elif local == "row":
                if number > last + 1:
                    ready.extend(XlsxRow(gap, ()) for gap in range(last + 1, number))
                last = number
                ready.append(XlsxRow(number, tuple(values), beyond))
            elif local == "is":
                in_is = False
            elif local == "rPh":
                phonetic -= 1

        parse = self._parser(part, namespaces=False)
        parse.parser.StartElementHandler = start
        parse.parser.EndElementHandler = end
        parse.parser.CharacterDataHandler = text
        with self._stream(part) as stream:
            for _ in parse.feed(stream):
                if ready:
                    yield from ready
                    ready.clear()
        yield from ready

    # -- lifetime ------------------------------------------------------------------------

    def _close_handle(self) -> None:
        if self._owns:
            self._handle.close()

    def close(self) -> None:
        """Close the workbook (and the file, when it was opened from a path)."""
        zip_file: zipfile.ZipFile | None = getattr(self, "_zip", None)
        if zip_file is not None:
            zip_file.close()
        self._close_handle()

    def __enter__(self) -> XlsxWorkbook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_xlsx(
    source: str | Path | bytes | IO[bytes],
    name: str | None = None,
    *,
    sheet: str | None = None,
    limits: XlsxLimits = XlsxLimits(),
) -> Iterator[XlsxRow]:
    """Stream the rows of one sheet of an XLSX file (see :class:`XlsxWorkbook`).

    Raises:
        FileFormatError: not a readable workbook, no such sheet, or a limit exceeded.
    """
    with XlsxWorkbook(source, name, limits=limits) as book:
        yield from book.rows(sheet)
