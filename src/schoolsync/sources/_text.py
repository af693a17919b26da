"""The one way schoolsync reads CSV text: encoding, delimiter and header row, detected once.

Every reader and command (the MIS readers, School Upload, bulk files, ``schoolsync match``)
uses :func:`detect_csv` (or :func:`decode_text` for a file already in memory), so a file one
of them reads, every one of them reads, and each can say what it found
(:meth:`CsvLayout.describe`).

- **Encoding**: a byte-order mark decides (UTF-8, UTF-16 LE/BE); UTF-16 without one is told by
  its NUL bytes; otherwise text that is valid UTF-8 is UTF-8, and anything else is
  Windows-1252 (Excel's plain "CSV" on a UK PC). Bytes Windows-1252 leaves undefined
  (``0x81``, ``0x8D``, ``0x8F``, ``0x90``, ``0x9D``) make the file unreadable, not mojibake.
  The whole file is checked (in blocks, so memory stays flat), because one accented name on
  row 90,000 decides between UTF-8 and Windows-1252.
- **Delimiter**: comma, semicolon (Excel in many European locales), tab (Excel's "Unicode
  Text") or pipe: the one that splits the first rows into the same number of cells.
- **Header row**: title rows above the header ("Pupil list", "Exported 01/09/2024") are
  skipped: the header is the row, among the first :data:`HEADER_SEARCH_ROWS`, that holds the
  most expected column names (when the reader knows them), else the first row with at least two
  cells filled.

The detection is deterministic and needs only the standard library: statistical detectors
guess wrongly on short files (a three-row CSV with one ``é``), and the encodings UK MIS and
Excel exports really use are the four above.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import IO

import attrs

from schoolsync.errors import FileFormatError

__all__ = [
    "HEADER_SEARCH_ROWS",
    "CsvLayout",
    "decode_text",
    "detect_csv",
    "detect_encoding",
    "find_header_row",
    "norm_header",
]

#: How many rows from the top are searched for the header row.
HEADER_SEARCH_ROWS = 10
#: How much of the start of a file is looked at for the delimiter and header row.
_HEAD_BYTES = 64 * 1024
_BLOCK = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: Bytes Windows-1252 leaves undefined: a file holding them is not Windows-1252 text.
#: The five bytes Windows-1252 leaves undefined (each searched for at memchr speed).
_CP1252_HOLES = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")

_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with a byte-order mark",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "utf-16": "UTF-16 with a byte-order mark",
    "cp1252": "Windows-1252",
}


@attrs.frozen(kw_only=True)
class CsvLayout:
    """What :func:`detect_csv` found: the encoding (a Python codec name), the delimiter, and
    the 1-based row number of the header (rows above it are titles, skipped)."""

    encoding: str
    delimiter: str = ","
    header_row: int = 1

    @property
    def encoding_label(self) -> str:
        """The encoding as people name it (``"Windows-1252"``, ``"UTF-8 with a byte-order mark"``)."""
        return _LABELS.get(self.encoding, self.encoding)

    def describe(self) -> str:
        """One line: ``"Windows-1252, semicolon-separated, header on row 3"``."""
        header = f", header on row {self.header_row}" if self.header_row != 1 else ""
        return f"{self.encoding_label}, {_DELIMITER_NAMES[self.delimiter]}-separated{header}"


def norm_header(text: object) -> str:
    """A header as compared with known names: lower case, runs of other characters as one
    space (``"Date_Of-Birth "`` -> ``"date of birth"``)."""
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text with no byte-order mark: ASCII characters leave every other byte NUL."""
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def detect_encoding(read: Callable[[int], bytes], name: str) -> str:
    """The codec name of a stream read with *read* (``file.read``), read to its end in blocks
    (or to its first NUL byte: a binary file, which the CSV readers then refuse with its row).

    Raises:
        FileFormatError: the bytes are neither UTF-8/UTF-16 nor Windows-1252 text.
    """
    head = read(_BLOCK)
    found = _bom_encoding(head) or _utf16_without_bom(head)
    if found is not None:
        return found
    decoder = codecs.getincrementaldecoder("utf-8")()
    block = head
    utf8 = True
    holes = False
    while block:
        if b"\x00" in block:
            return "utf-8" if utf8 else "cp1252"
        holes = holes or any(hole in block for hole in _CP1252_HOLES)
        if utf8:
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                utf8 = False
        if not utf8 and holes:
            break
        block = read(_BLOCK)
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if utf8:
        return "utf-8"
    if holes:
        raise FileFormatError(
            name,
            "the file is neither UTF-8 nor Windows-1252 text (a binary file, or another "
            "encoding); save it as CSV UTF-8",
        )
    return "cp1252"


def _split(lines: Sequence[str], delimiter: str) -> list[list[str]]:
    try:
        return list(csv.reader(lines, delimiter=delimiter))
    except csv.Error:
        return []


def _filled(cells: Sequence[str]) -> int:
    return sum(1 for c in cells if c.strip())


def _delimiter(lines: Sequence[str]) -> str:
    """The delimiter that splits the first rows most consistently into the most cells."""
    best, best_score = ",", 0
    for delimiter in _DELIMITERS:
        rows = [r for r in _split(lines, delimiter) if _filled(r)]
        widths = Counter(len(r) for r in rows if len(r) > 1)
        if not widths:
            continue
        width, count = widths.most_common(1)[0]
        score = width * count
        if score > best_score:
            best, best_score = delimiter, score
    return best


def find_header_row(rows: Sequence[Sequence[object]], expected: Iterable[str] = ()) -> int:
    """The 0-based index of the header among the first rows of a table.

    With *expected* column names (compared by :func:`norm_header`), the row holding most of
    them; otherwise (or when no row holds any) the first row with two or more cells filled
    when a title row (one cell) comes first, else the first non-blank row.
    """
    wanted = {norm_header(e) for e in expected}
    head = list(rows[:HEADER_SEARCH_ROWS])
    texts = [[("" if c is None else str(c)) for c in r] for r in head]
    if wanted:
        scores = [sum(1 for c in r if norm_header(c) in wanted) for r in texts]
        if scores and max(scores) > 0:
            return scores.index(max(scores))
    filled = [_filled(r) for r in texts]
    first = next((i for i, n in enumerate(filled) if n), 0)
    if filled and filled[first] == 1:
        wider = next((i for i, n in enumerate(filled) if n >= 2), None)
        if wider is not None:
            return wider
    return first


def _layout_of(text_head: str, encoding: str, expected: Iterable[str]) -> CsvLayout:
    lines = text_head.splitlines(keepends=True)
    if len(lines) > 1 and not text_head.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line may be cut mid-way
    lines = lines[: HEADER_SEARCH_ROWS + 20]
    delimiter = _delimiter(lines)
    rows = _split(lines, delimiter)
    header = find_header_row(rows, expected) if rows else 0
    # The header's row number counts CSV records, like every row number a reader reports.
    return CsvLayout(encoding=encoding, delimiter=delimiter, header_row=header + 1)


Opener = Callable[[], AbstractContextManager[IO[bytes]]]


def detect_csv(opener: Opener, name: str, *, expected: Iterable[str] = ()) -> CsvLayout:
    """Detect the encoding, delimiter and header row of the CSV file *opener* opens.

    The file is read once to its end (in blocks) for the encoding, and its start again for the
    layout; *expected* column names help find the header below title rows.

    Raises:
        FileFormatError: the file is not text in an encoding schoolsync reads.
    """
    with opener() as raw:
        encoding = detect_encoding(raw.read, name)
    with opener() as raw:
        head = raw.read(_HEAD_BYTES)
    text = head.decode(encoding, errors="ignore")
    return _layout_of(text.lstrip("\ufeff"), encoding, expected)


def decode_text(data: bytes, name: str, *, expected: Iterable[str] = ()) -> tuple[str, CsvLayout]:
    """The text of a whole CSV file held in memory, and its :class:`CsvLayout`.

    Raises:
        FileFormatError: the bytes are not text in an encoding schoolsync reads, or hold NUL
            characters (a binary file).
    """
    stream = io.BytesIO(data)
    encoding = detect_encoding(stream.read, name)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise FileFormatError(name, "not readable text; save the file as CSV UTF-8") from None
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        raise FileFormatError(
            name, "not a text file (it holds NUL characters); save the file as CSV UTF-8"
        )
    return text, _layout_of(text[:_HEAD_BYTES], encoding, expected)
