"""Plain CSV and XLSX exports with a column mapping: the host says which column is which.

:class:`TabularSource` reads a pupils file and/or a staff file (each CSV or XLSX, told by the
file name's ending, or a pandas or polars DataFrame already in a notebook). Classes come from a
"classes" column (names separated by ``;``) and year groups from a "year" column, so a one-sheet
export is enough.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, TypeVar

import attrs

from schoolsync.errors import (
    FileFormatError,
    InvalidIdentifierError,
    ProblemsError,
    SchoolsyncError,
)
from schoolsync.identifiers import Upn
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import MisSnapshot
from schoolsync.sources._csv import (
    CsvFile,
    FileSpec,
    Row,
    SourceWarning,
    Warnings,
    parse_date,
    parse_upn,
)
from schoolsync.sources._frames import DataFrameLike, frame_header, frame_rows, is_frame
from schoolsync.sources._text import HEADER_SEARCH_ROWS, find_header_row
from schoolsync.sources._years import in_nc_order, nc_year_for_grade, pupils_year_groups
from schoolsync.sources.xlsx import XlsxWorkbook

__all__ = ["PupilColumns", "StaffColumns", "TabularSource", "read_tabular"]


@attrs.frozen(kw_only=True)
class PupilColumns:
    """Which header holds each pupil field (``None``: the file has no such column).

    ``id`` is the MIS's own key (admission number, MIS id); it becomes ``id`` and ``mis_id``.
    """

    id: str
    forename: str
    surname: str
    upn: str | None = None
    former_upns: str | None = None
    preferred_forename: str | None = None
    preferred_surname: str | None = None
    middle_names: str | None = None
    date_of_birth: str | None = None
    gender: str | None = None
    year: str | None = None
    classes: str | None = None
    email: str | None = None


@attrs.frozen(kw_only=True)
class StaffColumns:
    """Which header holds each staff field (``None``: the file has no such column)."""

    id: str
    forename: str
    surname: str
    title: str | None = None
    preferred_forename: str | None = None
    preferred_surname: str | None = None
    middle_names: str | None = None
    date_of_birth: str | None = None
    gender: str | None = None
    email: str | None = None
    staff_code: str | None = None
    classes: str | None = None


def _spec(name: str, columns: PupilColumns | StaffColumns) -> FileSpec:
    mapped = attrs.asdict(columns)
    required = tuple(mapped[k] for k in ("id", "forename", "surname"))
    optional = tuple(
        v for k, v in mapped.items() if v is not None and k not in {"id", "forename", "surname"}
    )
    return FileSpec(
        name=name,
        required=required,
        optional=optional,
        extension_prefixes=(),
        summarise_unknown=True,
    )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _XlsxFile(CsvFile):
    """An XLSX sheet read like a CSV file, through the one bounded XLSX path
    (:mod:`schoolsync.sources.xlsx`): rows stream, and only real cells are read."""

    def __init__(self, path: Path, sheet: str | None, spec: FileSpec, warnings: Warnings) -> None:
        super().__init__(_no_opener, path.name, spec, warnings)
        self.path = path
        self.sheet = sheet

    def _cells(self) -> Iterator[list[str]]:
        with XlsxWorkbook(self.path, self.name) as book:
            rows = book.rows(self.sheet)
            # The header may sit below title rows: find it as CsvFile.rows() will.
            top = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
            at = find_header_row([r.values for r in top], self._expected()) if top else 0
            width = len(top[at].values) if top else 0
            for row in top[: at + 1]:
                yield [_cell_text(v) for v in row.values]
            for row in itertools.chain(top[at + 1 :], rows):
                values = row.values
                head = values[:width]
                if row.beyond or len(values) - values.count(None) > len(head) - head.count(None):
                    self.warnings.add(
                        self.name,
                        "values in columns without a header were not read",
                        row=row.number,
                        kind="xlsx beyond header",
                    )
                cells = [_cell_text(v) for v in head]
                cells += [""] * (width - len(cells))
                yield cells


class _FrameFile(CsvFile):
    """A pandas or polars DataFrame read like a CSV file: its column names are the header
    (matched as a file's are), its index labels (or positions) the row numbers."""

    def __init__(self, frame: DataFrameLike, name: str, spec: FileSpec, warnings: Warnings):
        super().__init__(_no_opener, name, spec, warnings)
        self.frame = frame

    def rows(self) -> Iterator[Row]:
        """Every row with a value in it, numbered by the frame's index.

        Raises:
            FileFormatError: a required column is missing or a column name repeats.
        """
        header = frame_header(self.frame, self.name)
        try:
            index = self._resolve(header)
        except FileFormatError as e:  # "row 1" is a file's header row: a frame has none
            raise FileFormatError(e.file, e.reason, field=e.field, code=e.code) from None
        for number, values in frame_rows(self.frame):
            cells = [_cell_text(v) for v in values]
            if any(c.strip() for c in cells):
                yield Row(cells, index, number, header)


_log = logging.getLogger(__name__)

#: :meth:`TabularSource.read` stops collecting problems after this many.
MAX_PROBLEMS = 1000


def _no_opener() -> IO[bytes]:  # pragma: no cover - never called for XLSX
    raise AssertionError("an XLSX file is not opened as text")


_T = TypeVar("_T")


def _shown(source: object, kind: str) -> str:
    """The name errors give *source*: a path's name, or "the pupils DataFrame"."""
    if isinstance(source, str | Path):
        return str(source)
    if is_frame(source):
        return f"the {kind} DataFrame"
    return f"the {kind} argument"


class _RowProblems(Exception):
    """Every bad cell of one row (internal: raised by a row, caught by its reader)."""

    def __init__(self, problems: list[FileFormatError]) -> None:
        super().__init__(len(problems))
        self.problems = problems


def _checked(problems: list[FileFormatError], compute: Callable[[], _T]) -> _T | None:
    """*compute*'s value, or ``None`` with its :class:`FileFormatError` added to *problems*."""
    try:
        return compute()
    except FileFormatError as problem:
        problems.append(problem)
        return None


def _counted(rows: Iterator[_T], progress: Callable[[int], None] | None) -> list[_T]:
    if progress is None:
        return list(rows)
    found: list[_T] = []
    for item in rows:
        found.append(item)
        if len(found) % 500 == 0:
            progress(500)
    progress(len(found) % 500)
    return found


class TabularSource:
    """Pupils and staff from plain CSV or XLSX files with a column mapping (``MisSource``).

    Args:
        school_id: the ``school_id`` on every record.
        pupils: the pupils file (``.csv`` or ``.xlsx``) or a pandas or polars DataFrame, with
            *pupil_columns* naming its columns. A frame's rows are checked as a file's are, and
            a problem names the row by the frame's index (its position for polars).
        staff: the staff file or DataFrame, with *staff_columns*.
        sheet: the XLSX sheet to read (default: the first).
        class_separator: what separates class names in a classes column.
        day_first: read slash dates as d/m/yyyy (default) or m/d/yyyy (either is warned).
        taken_at: the export time, if known.

    Class ids are ``"<school_id>:class:<name>"`` and year group ids
    ``"<school_id>:year:<NC year>"``. A malformed UPN, a bad date, a blank or duplicated id is
    an error naming file, row and column; a year the NC code list does not know and a malformed
    former UPN are warnings.
    """

    def __init__(
        self,
        *,
        school_id: str,
        pupils: str | Path | DataFrameLike | None = None,
        pupil_columns: PupilColumns | None = None,
        staff: str | Path | DataFrameLike | None = None,
        staff_columns: StaffColumns | None = None,
        sheet: str | None = None,
        class_separator: str = ";",
        day_first: bool = True,
        taken_at: datetime | None = None,
    ) -> None:
        if (pupils is None) != (pupil_columns is None) or (staff is None) != (
            staff_columns is None
        ):
            raise FileFormatError(
                _shown(pupils, "pupils") if pupils is not None else _shown(staff, "staff"),
                "pass each file with its column mapping",
            )
        self.school_id = school_id
        self._w = Warnings()
        self._sep = class_separator
        self._day_first = day_first
        self._taken_at = taken_at
        self._pupil_cols = pupil_columns
        self._staff_cols = staff_columns
        self._problems: list[FileFormatError] | None = None
        self._pupil_file = self._make(pupils, pupil_columns, sheet, "pupils")
        self._staff_file = self._make(staff, staff_columns, sheet, "staff")

    def _make(
        self,
        path: str | Path | DataFrameLike | None,
        columns: PupilColumns | StaffColumns | None,
        sheet: str | None,
        kind: str,
    ) -> CsvFile | None:
        if path is None or columns is None:
            return None
        if not isinstance(path, str | Path):
            if is_frame(path):
                name = _shown(path, kind)
                return _FrameFile(path, name, _spec(name, columns), self._w)
            raise FileFormatError(
                _shown(path, kind),
                f"expected a file path or a pandas or polars DataFrame, not a "
                f"{type(path).__name__}",
            )
        p = Path(path)
        spec = _spec(p.name, columns)
        if p.suffix.lower() in {".xlsx", ".xlsm"}:
            return _XlsxFile(p, sheet, spec, self._w)

        def opener() -> IO[bytes]:
            try:
                return p.open("rb")
            except (OSError, ValueError) as e:  # ValueError: a NUL in the path
                raise FileFormatError(
                    str(p), f"cannot be read: {getattr(e, 'strerror', None) or e}"
                ) from None

        return CsvFile(opener, p.name, spec, self._w)

    # -- helpers -------------------------------------------------------------------------------

    def _get(self, row: Row, column: str | None) -> str:
        return row.get(column) if column is not None else ""

    def _id(self, f: CsvFile, row: Row, column: str, seen: set[str]) -> str:
        v = row.get(column)
        if not v:
            raise FileFormatError(
                f.name, "a value is required", row=row.number, field=row.header(column)
            )
        if v in seen:
            raise FileFormatError(
                f.name, "duplicate id", row=row.number, field=row.header(column), value=v
            )
        seen.add(v)
        return v

    def _name(self, f: CsvFile, row: Row, column: str) -> str:
        v = row.get(column)
        if not v:
            raise FileFormatError(
                f.name, "a name is required", row=row.number, field=row.header(column)
            )
        return v

    def _date(self, f: CsvFile, row: Row, column: str | None) -> date | None:
        v = self._get(row, column)
        if not v or column is None:
            return None
        return parse_date(
            v,
            file=f.name,
            field=row.header(column),
            warnings=self._w,
            row=row.number,
            day_first=self._day_first,
        )

    def _class_names(self, row: Row, column: str | None) -> list[str]:
        v = self._get(row, column)
        return list(dict.fromkeys(p.strip() for p in v.split(self._sep) if p.strip()))

    def _class_id(self, name: str) -> str:
        return f"{self.school_id}:class:{name}"

    def _year(self, f: CsvFile, row: Row, column: str | None) -> str | None:
        v = self._get(row, column)
        if not v or column is None:
            return None
        nc = nc_year_for_grade(v)
        if nc is None:
            self._w.add(
                f.name,
                f"year {v!r} is not an NC year code; left blank",
                row=row.number,
                field=row.header(column),
                kind=f"year {v}",
            )
        return nc

    # -- MisSource -----------------------------------------------------------------------------

    def _each_row(self, f: CsvFile, build: Callable[[Row], _T]) -> Iterator[_T]:
        """*build* applied to each row of *f*: a bad row raises its first problem when the
        source is streamed, and adds every problem when :meth:`read` collects them."""
        for row in f.rows():
            try:
                yield build(row)
            except _RowProblems as found:
                if self._problems is None:
                    raise found.problems[0] from None
                for problem in found.problems:
                    self._note(problem)

    def pupils(self) -> Iterator[Pupil]:
        """The pupils file's rows as pupils, streamed."""
        f, c = self._pupil_file, self._pupil_cols
        if f is None or c is None:
            return
        seen: set[str] = set()
        yield from self._each_row(f, lambda row: self._pupil(f, c, row, seen))

    def _pupil(self, f: CsvFile, c: PupilColumns, row: Row, seen: set[str]) -> Pupil:
        """One row as a pupil; every bad cell of the row is a problem (the first is raised
        when the source is streamed, all are kept when :meth:`read` collects them)."""
        bad: list[FileFormatError] = []
        pid = _checked(bad, lambda: self._id(f, row, c.id, seen))
        upn = _checked(
            bad,
            lambda: parse_upn(
                self._get(row, c.upn), file=f.name, field=row.header(c.upn or ""), row=row.number
            ),
        )
        forename = _checked(bad, lambda: self._name(f, row, c.forename))
        surname = _checked(bad, lambda: self._name(f, row, c.surname))
        born = _checked(bad, lambda: self._date(f, row, c.date_of_birth))
        if bad:
            raise _RowProblems(bad)
        assert pid is not None
        assert forename is not None
        assert surname is not None
        former: list[Upn] = []
        for text in self._class_names(row, c.former_upns):
            try:
                former.append(Upn.parse(text))
            except InvalidIdentifierError as e:
                self._w.add(
                    f.name,
                    f"former UPN dropped: {e.reason}",
                    row=row.number,
                    field=c.former_upns,
                    kind="former upn",
                )
        return Pupil(
            id=pid,
            school_id=self.school_id,
            forename=forename,
            surname=surname,
            mis_id=pid,
            upn=upn,
            former_upns=tuple(former),
            preferred_forename=self._get(row, c.preferred_forename) or None,
            preferred_surname=self._get(row, c.preferred_surname) or None,
            middle_names=self._get(row, c.middle_names) or None,
            date_of_birth=born,
            gender=Gender.parse(self._get(row, c.gender)),
            year_code=self._year(f, row, c.year),
            class_ids=tuple(self._class_id(n) for n in self._class_names(row, c.classes)),
            email=self._get(row, c.email) or None,
        )

    def staff(self) -> Iterator[StaffMember]:
        """The staff file's rows as staff members, streamed."""
        f, c = self._staff_file, self._staff_cols
        if f is None or c is None:
            return
        seen: set[str] = set()
        yield from self._each_row(f, lambda row: self._staff_member(f, c, row, seen))

    def _staff_member(self, f: CsvFile, c: StaffColumns, row: Row, seen: set[str]) -> StaffMember:
        bad: list[FileFormatError] = []
        sid = _checked(bad, lambda: self._id(f, row, c.id, seen))
        forename = _checked(bad, lambda: self._name(f, row, c.forename))
        surname = _checked(bad, lambda: self._name(f, row, c.surname))
        born = _checked(bad, lambda: self._date(f, row, c.date_of_birth))
        if bad:
            raise _RowProblems(bad)
        assert sid is not None
        assert forename is not None
        assert surname is not None
        return StaffMember(
            id=sid,
            school_id=self.school_id,
            forename=forename,
            surname=surname,
            mis_id=sid,
            title=self._get(row, c.title) or None,
            preferred_forename=self._get(row, c.preferred_forename) or None,
            preferred_surname=self._get(row, c.preferred_surname) or None,
            middle_names=self._get(row, c.middle_names) or None,
            date_of_birth=born,
            gender=Gender.parse(self._get(row, c.gender)),
            email=self._get(row, c.email) or None,
            staff_code=self._get(row, c.staff_code) or None,
            class_ids=tuple(self._class_id(n) for n in self._class_names(row, c.classes)),
        )

    def _classes_of(
        self, pupils: Iterable[Pupil], staff: Iterable[StaffMember]
    ) -> list[SchoolClass]:
        found: dict[str, set[str]] = {}
        for p in pupils:
            for cid in p.class_ids:
                years = found.setdefault(cid, set())
                if p.year_code is not None:
                    years.add(p.year_code)
        for s in staff:
            for cid in s.class_ids:
                found.setdefault(cid, set())
        prefix = f"{self.school_id}:class:"
        return [
            SchoolClass(
                id=cid,
                school_id=self.school_id,
                name=cid[len(prefix) :],
                year_group_ids=tuple(f"{self.school_id}:year:{y}" for y in in_nc_order(years)),
            )
            for cid, years in found.items()
        ]

    def classes(self) -> Iterator[SchoolClass]:
        """One class per name in the classes columns, with its pupils' year groups."""
        return iter(self._classes_of(self.pupils(), self.staff()))

    def year_groups(self) -> Iterator[YearGroup]:
        """One year group per NC year in the pupils' year column."""
        return iter(pupils_year_groups(self.school_id, self.pupils()))

    def snapshot_time(self) -> datetime | None:
        """The ``taken_at`` given (plain exports carry no export time)."""
        return self._taken_at

    def warnings(self) -> list[str]:
        """Everything tolerated so far."""
        return self._w.messages()

    def warning_details(self) -> list[SourceWarning]:
        """The warnings as structured records."""
        return self._w.details()

    def _note(self, problem: FileFormatError) -> None:
        assert self._problems is not None
        self._problems.append(problem)
        if len(self._problems) >= MAX_PROBLEMS:
            raise self._problems_error(more=True)

    def _problems_error(self, *, more: bool = False) -> SchoolsyncError:
        problems = self._problems or []
        if len(problems) == 1:
            return problems[0]
        stop = f"; stopped after the first {MAX_PROBLEMS}" if more else ""
        return ProblemsError(f"the file(s) cannot be read as they are{stop}", problems)

    def read(self, *, progress: Callable[[int], None] | None = None) -> MisSnapshot:
        """Read everything into a snapshot; never half-read. *progress*, if given, is called
        with the number of rows read since its last call (every 500 rows, and at the end).

        Every bad row is found in the one pass (up to :data:`MAX_PROBLEMS`): one problem is
        raised as its :class:`~schoolsync.errors.FileFormatError`, several as a
        :class:`~schoolsync.errors.ProblemsError` holding one such error per problem.

        Raises:
            FileFormatError: a file cannot be read, or holds one bad row.
            ProblemsError: it holds several.
        """
        self._problems = []
        try:
            pupils = _counted(self.pupils(), progress)
            staff = _counted(self.staff(), progress)
        finally:
            problems, self._problems = self._problems, None
        if problems:
            self._problems = problems
            try:
                raise self._problems_error()
            finally:
                self._problems = None
        classes = self._classes_of(pupils, staff)
        years = pupils_year_groups(self.school_id, pupils)
        _log.info(
            "read school %s from %s: %d pupil(s), %d staff, %d warning(s)",
            self.school_id,
            ", ".join(f.name for f in (self._pupil_file, self._staff_file) if f is not None),
            len(pupils),
            len(staff),
            len(self._w.details()),
        )
        return MisSnapshot(
            school_id=self.school_id,
            taken_at=self._taken_at,
            pupils=pupils,
            staff=staff,
            classes=classes,
            year_groups=years,
            warnings=tuple(self.warnings()),
        )


def read_tabular(
    *,
    school_id: str,
    pupils: str | Path | DataFrameLike | None = None,
    pupil_columns: PupilColumns | None = None,
    staff: str | Path | DataFrameLike | None = None,
    staff_columns: StaffColumns | None = None,
    sheet: str | None = None,
    taken_at: datetime | None = None,
) -> MisSnapshot:
    """Read mapped CSV/XLSX files, or pandas/polars DataFrames, into a snapshot (see
    :class:`TabularSource`)."""
    return TabularSource(
        school_id=school_id,
        pupils=pupils,
        pupil_columns=pupil_columns,
        staff=staff,
        staff_columns=staff_columns,
        sheet=sheet,
        taken_at=taken_at,
    ).read()
