"""The review workbook: written for a person to work in, read back as checked decisions.

:func:`write_review_workbook` writes a **Summary** sheet (the source files, a count per
status, what to do next, the decisions and what they mean) and a **Review** sheet: one row per
line in review order (Not matched, New, May match, Matched), coloured by status, with a
Decision drop-down and a Match-to-id column, the MIS record and the app record side by side
(app values the MIS will overwrite struck out), how each pair was made and its evidence.
Headers are frozen, columns are sized and filters are on. Written with xlsxwriter in its
constant-memory mode; every text cell is neutralised (no value runs as a formula) and loses
the control characters a workbook cannot hold.

:func:`read_review_workbook` reads the edited workbook back through the hostile-sheet-safe
reader and checks every row against the review it was written from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from schoolsync.bulk import neutralise, restore
from schoolsync.errors import DecisionsError, FileFormatError, MissingExtraError
from schoolsync.matching import MatchReview, MatchStatus
from schoolsync.review._view import (
    STATUS_HELP,
    ReviewLine,
    columns_for,
    review_fingerprint,
    review_lines,
)
from schoolsync.review.decisions import (
    DECISION_COLUMN,
    DECISION_LABELS,
    MATCH_COLUMN,
    Choice,
    ReviewDecisions,
    RowEntry,
    decisions_from_rows,
    prefilled,
)
from schoolsync.sources.xlsx import XlsxRow, XlsxWorkbook
from schoolsync.sync.records import RecordKind

__all__ = ["REVIEW_SHEET", "SUMMARY_SHEET", "read_review_workbook", "write_review_workbook"]

SUMMARY_SHEET = "Summary"
REVIEW_SHEET = "Review"
_FINGERPRINT_LABEL = "Review id (do not edit)"
_MAX_CELL = 32767
#: Reviews with more lines than this are written in constant-memory mode (inline strings:
#: memory stays flat, but the file is larger and slower to read back).
CONSTANT_MEMORY_LINES = 50_000
#: Characters a workbook cannot hold (XML 1.0 forbids them); tab and new lines stay.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_RISKY = frozenset("=+-@\t\r'")
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")

_PLURAL = {
    RecordKind.PUPIL: "pupils",
    RecordKind.STAFF: "staff",
    RecordKind.CLASS: "classes",
    RecordKind.YEAR_GROUP: "year groups",
}
# Fill and text colours per status (text on fill at least 7:1 contrast).
_STATUS_COLOURS = {
    MatchStatus.NOT_MATCHED: ("#F8D7DA", "#58151C"),
    MatchStatus.NEW: ("#CFE2FF", "#052C65"),
    MatchStatus.MAY_MATCH: ("#FFF3CD", "#664D03"),
    MatchStatus.MATCHED: ("#D1E7DD", "#0A3622"),
}
_EDITABLE_FILL = "#FFFDE7"


def clean(text: str) -> str:
    """*text* as a workbook cell holds it: control characters dropped, then neutralised."""
    if text.isprintable() and text[:1] not in _RISKY and len(text) <= _MAX_CELL:
        return text  # the common case, without a regular expression
    return neutralise(_ILLEGAL.sub("", text))[:_MAX_CELL]


def _side_label(side: str, label: str) -> str:
    first = label.split()[0]
    return f"{side} {label if first.isupper() else label[0].lower() + label[1:]}"


def _headers(kind: RecordKind) -> list[str]:
    cols = columns_for(kind)
    return [
        "Status",
        DECISION_COLUMN,
        MATCH_COLUMN,
        "MIS id",
        *(_side_label("MIS", c.label) for c in cols),
        "App id",
        *(_side_label("App", c.label) for c in cols),
        "Will be overwritten",
        "How matched",
        "Score",
        "Evidence",
    ]


def _read_only_cells(line: ReviewLine, kind: RecordKind) -> list[str]:
    """The texts of a line's cells a person should not edit, in header order (no decision)."""
    cols = columns_for(kind)
    overwritten = ", ".join(cols[i].label for i in sorted(line.overwritten))
    return [
        line.status.label,
        line.mis_id,
        *line.mis_values,
        line.app_id,
        *line.app_values,
        overwritten,
        line.how,
        "" if line.score is None else f"{line.score:.3f}",
        line.explanation,
    ]


def _xlsxwriter() -> Any:
    try:
        import xlsxwriter
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise MissingExtraError("writing the review workbook", "review") from exc
    return xlsxwriter


def write_review_workbook(
    review: MatchReview[Any],
    target: str | Path | IO[bytes],
    *,
    sources: Sequence[str] = (),
    written_at: datetime | None = None,
    school: str | None = None,
) -> Path | None:
    """Write *review* as a workbook a person works in (see the module docstring).

    *target* is a path (written in constant-memory mode) or a binary stream (a web response).
    *sources* names the files the review was made from (shown on the Summary sheet with
    *written_at* and *school*). Returns the path written (``None`` for a stream).

    Raises:
        MissingExtraError: xlsxwriter is not installed (the ``review`` extra).
    """
    xlsxwriter = _xlsxwriter()
    options: dict[str, Any] = {
        "strings_to_formulas": False,
        "strings_to_numbers": False,
        "strings_to_urls": False,
    }
    lines = review_lines(review)
    if isinstance(target, str | Path):
        options["constant_memory"] = len(lines) > CONSTANT_MEMORY_LINES
        out: Any = str(target)
    else:
        options["in_memory"] = True
        out = target
    workbook = xlsxwriter.Workbook(out, options)
    try:
        formats = _Formats(workbook)
        _write_summary(workbook, formats, review, lines, sources, written_at, school)
        _write_review(workbook, formats, review, lines)
    finally:
        workbook.close()
    return Path(target) if isinstance(target, str | Path) else None


class _Formats:
    def __init__(self, workbook: Any) -> None:
        add = workbook.add_format
        self.title = add({"bold": True, "font_size": 14})
        self.bold = add({"bold": True})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.header = add(
            {
                "bold": True,
                "text_wrap": True,
                "valign": "top",
                "bg_color": "#1F3864",
                "font_color": "#FFFFFF",
                "border": 1,
            }
        )
        self.editable = add({"bg_color": _EDITABLE_FILL, "border": 1, "border_color": "#BFBFBF"})
        self.status = {
            s: add({"bg_color": fill, "font_color": text, "bold": True})
            for s, (fill, text) in _STATUS_COLOURS.items()
        }
        self.struck = add({"font_strikeout": True, "font_color": "#842029", "bg_color": "#FBEAEA"})
        self.score = add({"num_format": "0.000"})


def _write_summary(
    workbook: Any,
    f: _Formats,
    review: MatchReview[Any],
    lines: Sequence[ReviewLine],
    sources: Sequence[str],
    written_at: datetime | None,
    school: str | None,
) -> None:
    sheet = workbook.add_worksheet(SUMMARY_SHEET)
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 90)
    kind = _PLURAL[review.kind]
    rows: list[tuple[str, str, Any]] = [
        (f"Review of {kind}", "", f.title),
        ("School", clean(school or ""), None),
        ("Source files", clean("; ".join(sources)), None),
        ("Written", "" if written_at is None else written_at.strftime("%d %b %Y %H:%M"), None),
        ("", "", None),
        ("Status", "Records", f.bold),
    ]
    counts = review.counts()
    row = 0
    for label, value, fmt in rows:
        sheet.write_string(row, 0, label, fmt)
        if value:
            sheet.write_string(row, 1, value, fmt)
        row += 1
    sheet.write_string(row - 1, 2, "What it means", f.bold)
    for status in sorted(MatchStatus, key=lambda s: s.review_order):
        sheet.write_string(row, 0, status.label, f.status[status])
        sheet.write_number(row, 1, counts[status])
        sheet.write_string(row, 2, STATUS_HELP[status])
        row += 1
    selected = sum(1 for ln in lines if ln.selected)
    sheet.write_string(row, 0, "New records ticked for import")
    sheet.write_number(row, 1, selected)
    row += 2
    steps = [
        "What to do next",
        f"1. Open the {REVIEW_SHEET} sheet. Rows are in the order to review them: "
        "Not matched, New, May match, Matched (filter the Status column to work on one).",
        f"2. In the {DECISION_COLUMN} column choose what should happen to a row (the yellow "
        "cells); leave it blank to keep what the system proposes.",
        f"3. To match two records, put the other record's id in {MATCH_COLUMN!r} (an MIS id "
        "on a Not matched row, an app id on the other rows).",
        "4. App values the MIS will replace are struck out: the MIS is the master record.",
        "5. Edit only the Decision and Match to id columns, then save the workbook and read "
        "it back with `schoolsync decisions` (each problem is reported with its row and column).",
    ]
    for i, text in enumerate(steps):
        sheet.write_string(row, 0, text, f.bold if i == 0 else None)
        row += 1
    row += 1
    sheet.write_string(row, 0, "Decisions", f.bold)
    sheet.write_string(row, 1, "Meaning", f.bold)
    row += 1
    meanings = {
        Choice.ACCEPT: "Keep this May match or Matched pair.",
        Choice.REJECT: "Unmatch: the MIS record becomes New, the app record Not matched.",
        Choice.MATCH: f"Match with the record whose id is in {MATCH_COLUMN!r}.",
        Choice.IMPORT: "Import this New MIS record into the app.",
        Choice.DO_NOT_IMPORT: "Leave this New MIS record out of the import.",
    }
    for choice, meaning in meanings.items():
        sheet.write_string(row, 0, choice.label)
        sheet.write_string(row, 1, meaning)
        row += 1
    row += 1
    sheet.write_string(row, 0, _FINGERPRINT_LABEL)
    sheet.write_string(row, 1, review_fingerprint(review))
    sheet.activate()


def _widths(headers: Sequence[str], cells: Sequence[list[str]], kind: RecordKind) -> list[float]:
    width = [max(10, min(28, len(h) + 2)) for h in headers]
    positions = _READ_ONLY_POSITIONS[kind]
    for i, column in zip(positions, zip(*cells, strict=True), strict=True):
        longest = max(map(len, column), default=0) + 2
        if longest > width[i]:
            width[i] = longest
    width[1] = max(width[1], 16)
    width[2] = max(width[2], 14)
    return [min(w, 60 if i == len(width) - 1 else 40) for i, w in enumerate(width)]


def _positions(kind: RecordKind) -> list[int]:
    n = len(_headers(kind))
    return [i for i in range(n) if i not in (1, 2)]


_READ_ONLY_POSITIONS = {k: _positions(k) for k in RecordKind}


def _write_review(
    workbook: Any, f: _Formats, review: MatchReview[Any], lines: Sequence[ReviewLine]
) -> None:
    kind = review.kind
    headers = _headers(kind)
    sheet = workbook.add_worksheet(REVIEW_SHEET)
    all_cells = [_read_only_cells(ln, kind) for ln in lines]
    for i, w in enumerate(_widths(headers, all_cells, kind)):
        sheet.set_column(i, i, w)
    sheet.freeze_panes(1, 3)
    sheet.set_row(0, 30)
    for i, h in enumerate(headers):
        sheet.write_string(0, i, h, f.header)
    ncols = len(columns_for(kind))
    app_first = 4 + ncols + 1
    positions = _READ_ONLY_POSITIONS[kind]
    score_col = headers.index("Score")
    for n, ln in enumerate(lines, start=1):
        sheet.write_string(n, 0, ln.status.label, f.status[ln.status])
        decision = prefilled(ln)
        if decision:
            sheet.write_string(n, 1, decision, f.editable)
        else:
            sheet.write_blank(n, 1, None, f.editable)
        sheet.write_blank(n, 2, None, f.editable)
        cells = all_cells[n - 1]
        for col, text in zip(positions[1:], cells[1:], strict=True):
            if col == score_col:
                if ln.score is not None:
                    sheet.write_number(n, col, ln.score, f.score)
                continue
            if not text:
                continue
            struck = col >= app_first and (col - app_first) in ln.overwritten
            sheet.write_string(n, col, clean(text), f.struck if struck else None)
    last = len(lines)
    sheet.autofilter(0, 0, max(last, 1), len(headers) - 1)
    if last:
        sheet.data_validation(
            1,
            1,
            last,
            1,
            {
                "validate": "list",
                "source": list(DECISION_LABELS),
                "input_title": "Decision",
                "input_message": "Choose a decision, or leave blank to keep the proposal.",
                "error_title": "Not a decision",
                "error_message": "Choose one of: " + ", ".join(DECISION_LABELS),
            },
        )


# ---------------------------------------------------------------------------------- reading


def _cell_text(value: object) -> str:
    if type(value) is str:
        return value[1:] if value.startswith("'") else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return restore(str(value))


def _same_text(got: str, want: str) -> bool:
    """A cell reads back as written (some readers leave OOXML's ``_xHHHH_`` escapes in)."""
    if got == want:
        return True
    want = restore(clean(want))
    if got == want:
        return True
    return "_x" in got and _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), got) == want


@contextmanager
def _open(source: Path | bytes, name: str) -> Iterator[XlsxWorkbook]:
    """The workbook, opened through the one bounded XLSX reader."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    if not data.startswith(b"PK\x03\x04"):
        raise FileFormatError(name, "not an Excel workbook (.xlsx)")
    with XlsxWorkbook(data, name) as workbook:
        yield workbook


def _sheet_rows(workbook: XlsxWorkbook, name: str, sheet_name: str) -> Iterator[XlsxRow]:
    """The rows of one sheet (bounded: hostile sheets are refused with a FileFormatError)."""
    if sheet_name not in workbook.sheet_names:
        raise FileFormatError(
            name, f"has no {sheet_name!r} sheet; is it a schoolsync review workbook?"
        )
    return workbook.rows(sheet_name)


def _fingerprint(workbook: XlsxWorkbook, name: str) -> str:
    for row in _sheet_rows(workbook, name, SUMMARY_SHEET):
        cells = row.values
        if cells and _cell_text(cells[0]) == _FINGERPRINT_LABEL:
            return _cell_text(cells[1] if len(cells) > 1 else None).strip()
    raise FileFormatError(
        name, f"the {SUMMARY_SHEET} sheet has lost its {_FINGERPRINT_LABEL!r} row", field="Summary"
    )


def read_review_workbook(
    source: str | Path | IO[bytes], review: MatchReview[Any], *, name: str | None = None
) -> ReviewDecisions:
    """Read an edited review workbook back as checked decisions about *review*.

    *review* is the review the workbook was written from. Rows may be sorted or filtered;
    only the Decision and Match-to-id columns may change. Every row is checked and each
    problem names the row and the column: a decision not in the drop-down, an id no record
    has, a record matched twice, a choice that does not fit the row's status, a changed cell
    (a name, an id, a status...), a deleted, added or copied row.

    Raises:
        FileFormatError: not a review workbook (or written from another review).
        DecisionsError: one problem per bad row (at most 100 listed).
    """
    if isinstance(source, str | Path):
        path = Path(source)
        label = name or path.name
        data: Path | bytes = path
    else:
        label = name or Path(str(getattr(source, "name", "upload"))).name
        data = source.read()
    with _open(data, label) as workbook:
        return _read(workbook, review, label)


def _read(workbook: XlsxWorkbook, review: MatchReview[Any], label: str) -> ReviewDecisions:
    found = _fingerprint(workbook, label)
    if found != review_fingerprint(review):
        raise FileFormatError(
            label,
            "this workbook was written from a different review (the exports changed since, "
            "or it is another school's or another kind of record's)",
            field=_FINGERPRINT_LABEL,
        )
    lines = review_lines(review)
    headers = _headers(review.kind)
    rows = _sheet_rows(workbook, label, REVIEW_SHEET)
    try:
        head = [_cell_text(v).strip() for v in next(rows).values]
    except StopIteration:
        raise FileFormatError(label, "the Review sheet is empty", row=1) from None
    where = {h: i for i, h in enumerate(head) if h}
    missing = [h for h in headers if h not in where]
    if missing:
        raise FileFormatError(
            label, "the Review sheet has lost column(s) " + ", ".join(missing), row=1
        )
    entries, changed = _entries(rows, where, headers, lines, review.kind, label)
    try:
        decisions = decisions_from_rows(review, entries, source=label, lines=lines)
    except DecisionsError as exc:
        problems = [*changed, *exc.exceptions]
        raise DecisionsError("the workbook's decisions cannot be used", problems[:101]) from None
    if changed:
        raise DecisionsError("the workbook's decisions cannot be used", changed[:101])
    return decisions


def _entries(
    rows: Iterator[XlsxRow],
    where: dict[str, int],
    headers: Sequence[str],
    lines: Sequence[ReviewLine],
    kind: RecordKind,
    label: str,
) -> tuple[list[RowEntry], list[FileFormatError]]:
    by_key = {(ln.mis_id, ln.app_id): ln for ln in lines}
    read_only = [headers[i] for i in _READ_ONLY_POSITIONS[kind]]
    positions = [where[h] for h in read_only]
    m_at, a_at, d_at, t_at = (where[h] for h in ("MIS id", "App id", DECISION_COLUMN, MATCH_COLUMN))
    width = max(where.values()) + 1
    entries: list[RowEntry] = []
    changed: list[FileFormatError] = []
    for row in rows:
        number = row.number
        cells = [_cell_text(v) for v in row.values[:width]]
        if not any(c.strip() for c in cells):
            continue
        cells += [""] * (width - len(cells))
        entry = RowEntry(
            row=number,
            mis_id=cells[m_at],
            app_id=cells[a_at],
            decision=cells[d_at],
            match_to=cells[t_at],
        )
        entries.append(entry)
        line = by_key.get((entry.mis_id.strip(), entry.app_id.strip()))
        if line is None or len(changed) > 100:
            continue
        expected = _read_only_cells(line, kind)
        for header, at, want in zip(read_only, positions, expected, strict=True):
            got = cells[at]
            if _same_score(got, line.score) if header == "Score" else _same_text(got, want):
                continue
            changed.append(
                FileFormatError(
                    label,
                    "changed since the workbook was written; only the Decision and "
                    "Match to id columns may be edited",
                    row=number,
                    field=header,
                )
            )
            break
    return entries, changed


def _same_score(text: str, score: float | None) -> bool:
    if score is None:
        return not text.strip()
    try:
        return abs(float(text) - score) < 5e-4
    except ValueError:
        return False
