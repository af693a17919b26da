"""The academic calendar: academic years, year groups, intake cohorts and rollover.

Everything here is pure: the date that matters (``on``, ``today``) is always passed in.

* :class:`AcademicYear` is one school year with a configurable start (:class:`YearStart`,
  1 September by default; Scottish councils start in mid-August; some funding contexts use
  1 August).
* :func:`year_group_for` derives the year group a pupil's date of birth puts them in on a date,
  for England and Wales (``N1``, ``N2``, ``R``, ``1``-``14``), Scotland (``P1``-``P7``,
  ``S1``-``S6``, 1 March-end of February birth cohorts) and Northern Ireland (``Y1``-``Y14``,
  2 July-1 July birth cohorts). It uses cohort arithmetic, never "has the birthday passed", so
  29 February births need no special case.
* :func:`compare_year_group` keeps the year derived from the birth date and the year the MIS
  reports side by side and flags a difference (out of year group). It never corrects either
  and never derives ``E1``/``E2``.
* :func:`intake_cohort` names the cohort a year group belongs to; :func:`rollover_school`
  promotes a whole school at the new school year and identifies the leavers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import total_ordering
from typing import Generic, TypeVar, overload

import attrs

from schoolsync.errors import InvalidDateError, ValidationError
from schoolsync.records.organisations import Country
from schoolsync.records.people import Pupil

__all__ = [
    "AUGUST_START",
    "NC_YEAR_ACTUAL_CODES",
    "SCOTLAND_START",
    "SEPTEMBER_START",
    "AcademicYear",
    "IntakeCohort",
    "Jurisdiction",
    "NotYetInSchool",
    "Rollover",
    "YearCode",
    "YearGroupCheck",
    "YearGroupStatus",
    "YearStart",
    "academic_year_containing",
    "birth_cohort",
    "check_year_group",
    "compare_year_group",
    "intake_cohort",
    "promote",
    "rollover_school",
    "school_stage_for",
    "year_group_for",
    "year_number_for",
]

#: Every code the census ``NCyearActual`` item allows for a pupil (``M`` is for classes only).
NC_YEAR_ACTUAL_CODES = frozenset(
    {"E1", "E2", "N1", "N2", "R", "X", *(str(n) for n in range(1, 15))}
)


class Jurisdiction(StrEnum):
    """Which year-group rules apply: each has its own birth cut-off and year names."""

    ENGLAND_WALES = "england_wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern_ireland"

    @classmethod
    def for_country(cls, country: Country) -> Jurisdiction:
        """The jurisdiction of a school's country; overseas schools follow England's rules."""
        if country is Country.SCOTLAND:
            return cls.SCOTLAND
        if country is Country.NORTHERN_IRELAND:
            return cls.NORTHERN_IRELAND
        return cls.ENGLAND_WALES

    @property
    def default_start(self) -> YearStart:
        """When the year group changes by default: 1 September, 1 August in Scotland.

        Scottish sessions start in mid-August on a date each council sets; pass the council's
        date as ``start`` where it matters.
        """
        return SCOTLAND_START if self is Jurisdiction.SCOTLAND else SEPTEMBER_START


def _check_month(instance: YearStart, attribute: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 12:
        raise InvalidDateError("year_start", f"{value:02}", "month must be 1-12")


def _check_day(instance: YearStart, attribute: attrs.Attribute[int], value: int) -> None:
    try:
        date(2001, instance.month, value)  # 2001 is not a leap year: 29 February is refused
    except ValueError as exc:
        raise InvalidDateError(
            "year_start", f"{instance.month:02}-{value:02}", "not a day that exists every year"
        ) from exc


@attrs.frozen(order=True)
class YearStart:
    """The month and day on which an academic year starts (29 February is not allowed)."""

    month: int = attrs.field(validator=_check_month)
    day: int = attrs.field(validator=_check_day)

    def in_year(self, year: int) -> date:
        """The start date in calendar *year*."""
        return date(year, self.month, self.day)

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"


#: 1 September: the National Curriculum year boundary in England, Wales and Northern Ireland.
SEPTEMBER_START = YearStart(9, 1)
#: 1 August: the default Scottish session boundary (councils start mid-August) and some
#: DfE funding contexts.
SCOTLAND_START = YearStart(8, 1)
AUGUST_START = SCOTLAND_START

_LABEL_RE = re.compile(r"^\s*(\d{4})\s*(?:[/\-]\s*)?(\d{2}|\d{4})\s*$")


def _check_start_year(instance: AcademicYear, attribute: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 9998:
        raise InvalidDateError("academic_year", value, "start year must be 1-9998")


@total_ordering
@attrs.frozen
class AcademicYear:
    """One academic (school) year, e.g. ``2025/26``, starting on ``start`` in ``start_year``.

    Years with the same start compare by ``start_year``. ``str()`` gives the label.
    """

    start_year: int = attrs.field(validator=_check_start_year)
    start: YearStart = SEPTEMBER_START

    @classmethod
    def containing(cls, day: date, *, start: YearStart = SEPTEMBER_START) -> AcademicYear:
        """The academic year that *day* falls in."""
        year = day.year if (day.month, day.day) >= (start.month, start.day) else day.year - 1
        return cls(year, start)

    @classmethod
    def parse(cls, text: str, *, start: YearStart = SEPTEMBER_START) -> AcademicYear:
        """Read a label leniently: ``2019/20``, ``2019-20``, ``2019/2020`` or ``201920``.

        Raises:
            InvalidDateError: if the text is not a label or its two years are not consecutive.
        """
        m = _LABEL_RE.match(str(text))
        if not m:
            raise InvalidDateError("academic_year", text, "expected a label like 2025/26")
        first, second = int(m.group(1)), m.group(2)
        following = first + 1
        wanted = f"{following % 100:02d}" if len(second) == 2 else f"{following:04d}"
        if second != wanted:
            raise InvalidDateError("academic_year", text, "the two years are not consecutive")
        return cls(first, start)

    @property
    def label(self) -> str:
        """The usual label, ``YYYY/YY`` (e.g. ``2025/26``)."""
        return f"{self.start_year:04d}/{(self.start_year + 1) % 100:02d}"

    @property
    def start_date(self) -> date:
        """The first day of the year."""
        return self.start.in_year(self.start_year)

    @property
    def end_date(self) -> date:
        """The last day of the year (the day before the next year starts)."""
        return self.start.in_year(self.start_year + 1) - timedelta(days=1)

    def contains(self, day: date) -> bool:
        """True when *day* falls in this academic year."""
        return self.start_date <= day <= self.end_date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.contains(day)

    def next(self) -> AcademicYear:
        """The following academic year."""
        return self.shifted(1)

    def previous(self) -> AcademicYear:
        """The preceding academic year."""
        return self.shifted(-1)

    def shifted(self, years: int) -> AcademicYear:
        """The academic year *years* later (earlier when negative)."""
        return AcademicYear(self.start_year + years, self.start)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, AcademicYear):
            return NotImplemented
        if other.start != self.start:
            raise TypeError("cannot order academic years with different start dates")
        return self.start_year < other.start_year

    def __str__(self) -> str:
        return self.label


def academic_year_containing(day: date, *, start: YearStart = SEPTEMBER_START) -> AcademicYear:
    """The academic year that *day* falls in (default start 1 September)."""
    return AcademicYear.containing(day, start=start)


# ---------------------------------------------------------------------------------------------
# Year codes

# number ranges per jurisdiction: England/Wales -2 = N1, -1 = N2, 0 = R, 1..14;
# Scotland 1..7 = P1..P7, 8..13 = S1..S6; Northern Ireland 1..14 = Y1..Y14.
_RANGES = {
    Jurisdiction.ENGLAND_WALES: (-2, 14),
    Jurisdiction.SCOTLAND: (1, 13),
    Jurisdiction.NORTHERN_IRELAND: (1, 14),
}
# years from the start of the birth cohort to the first year of school (R, P1, Y1)
_FIRST_SCHOOL_YEAR = {
    Jurisdiction.ENGLAND_WALES: 0,
    Jurisdiction.SCOTLAND: 1,
    Jurisdiction.NORTHERN_IRELAND: 1,
}
_FIRST_YEAR_NAME = {
    Jurisdiction.ENGLAND_WALES: "Reception",
    Jurisdiction.SCOTLAND: "P1",
    Jurisdiction.NORTHERN_IRELAND: "Year 1",
}


def _check_number(instance: YearCode, attribute: attrs.Attribute[int], value: int) -> None:
    low, high = _RANGES[instance.jurisdiction]
    if not low <= value <= high:
        raise ValidationError(
            "year_code", value, f"out of range {low}..{high} for {instance.jurisdiction.value}"
        )


@total_ordering
@attrs.frozen(eq=True, order=False)
class YearCode:
    """A year group a pupil can be derived into or promoted through.

    ``number`` orders the years within a jurisdiction: England and Wales ``-2`` = ``N1``,
    ``-1`` = ``N2``, ``0`` = ``R`` (Reception), ``1``-``14``; Scotland ``1``-``7`` = ``P1``-``P7``
    and ``8``-``13`` = ``S1``-``S6``; Northern Ireland ``1``-``14`` = ``Y1``-``Y14``. ``str()``
    and :attr:`code` give the code (``"R"``, ``"7"``, ``"P3"``, ``"Y8"``). Codes that are
    never derived (``E1``, ``E2``, ``X``, ``M``) are not year codes.
    """

    jurisdiction: Jurisdiction
    number: int = attrs.field(validator=_check_number)

    @property
    def code(self) -> str:
        """The code as an MIS writes it."""
        n = self.number
        if self.jurisdiction is Jurisdiction.SCOTLAND:
            return f"P{n}" if n <= 7 else f"S{n - 7}"
        if self.jurisdiction is Jurisdiction.NORTHERN_IRELAND:
            return f"Y{n}"
        return {-2: "N1", -1: "N2", 0: "R"}.get(n, str(n))

    @property
    def label(self) -> str:
        """A human name: ``Nursery 1``, ``Reception``, ``Year 7``, ``Primary 3``, ``S2``..."""
        n = self.number
        if self.jurisdiction is Jurisdiction.SCOTLAND:
            return f"Primary {n}" if n <= 7 else f"Secondary {n - 7}"
        if self.jurisdiction is Jurisdiction.ENGLAND_WALES and n <= 0:
            return {-2: "Nursery 1", -1: "Nursery 2", 0: "Reception"}[n]
        return f"Year {n}"

    @property
    def is_nursery(self) -> bool:
        """True for ``N1`` and ``N2`` (before Reception)."""
        return self.jurisdiction is Jurisdiction.ENGLAND_WALES and self.number < 0

    @classmethod
    def parse(
        cls, text: str | int, jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES
    ) -> YearCode:
        """Read a year code leniently (``"7"``, ``"07"``, ``"Year 7"``, ``"Y7"``, ``"R"``,
        ``"YR"``, ``"Reception"``, ``"N2"``; Scotland ``"P3"``, ``"S1"``; Northern Ireland
        ``"Y8"``, ``"8"``, ``"P3"`` = Year 3).

        Raises:
            ValidationError: (field ``year_code``) for text that is not a derivable year code
                of *jurisdiction*, including the valid but never-derived ``E1``, ``E2``,
                ``X`` and ``M``.
        """
        raw = re.sub(r"[\s_]+", " ", str(text)).strip().upper()
        number = _parse_number(raw, jurisdiction)
        if number is None:
            why = (
                "a valid NC year code that is never derived or promoted"
                if raw in NC_YEAR_ACTUAL_CODES | {"M"}
                else f"not a {jurisdiction.value} year code"
            )
            raise ValidationError("year_code", text, why)
        return cls(jurisdiction, number)

    @classmethod
    def parse_optional(
        cls, text: str | int | None, jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES
    ) -> YearCode | None:
        """Like :meth:`parse`, but ``None`` for blank or non-derivable text instead of raising."""
        if text is None or not str(text).strip():
            return None
        try:
            return cls.parse(text, jurisdiction)
        except ValidationError:
            return None

    def shifted(self, years: int) -> YearCode:
        """The year code *years* later (earlier when negative).

        Raises:
            ValidationError: when the result is outside the jurisdiction's range.
        """
        return YearCode(self.jurisdiction, self.number + years)

    def next(self) -> YearCode | None:
        """The following year, or ``None`` after the jurisdiction's last year."""
        high = _RANGES[self.jurisdiction][1]
        return None if self.number >= high else YearCode(self.jurisdiction, self.number + 1)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, YearCode):
            return NotImplemented
        if other.jurisdiction is not self.jurisdiction:
            raise TypeError("cannot order year codes of different jurisdictions")
        return self.number < other.number

    def __str__(self) -> str:
        return self.code


def _parse_number(raw: str, jurisdiction: Jurisdiction) -> int | None:
    low, high = _RANGES[jurisdiction]
    if jurisdiction is Jurisdiction.SCOTLAND:
        m = re.fullmatch(r"(P|S|PRIMARY ?|SECONDARY ?)(\d{1,2})", raw)
        if not m:
            return None
        n = int(m.group(2))
        if m.group(1).startswith("P"):
            return n if 1 <= n <= 7 else None
        return n + 7 if 1 <= n <= 6 else None
    if jurisdiction is Jurisdiction.ENGLAND_WALES:
        named = {
            "R": 0, "YR": 0, "REC": 0, "RECEPTION": 0, "YEAR R": 0,
            "N1": -2, "NURSERY 1": -2, "N2": -1, "NURSERY 2": -1,
        }  # fmt: skip
        if raw in named:
            return named[raw]
        m = re.fullmatch(r"(?:YEAR ?|YR ?|Y)?(\d{1,2})", raw)
    else:
        m = re.fullmatch(r"(?:YEAR ?|YR ?|Y|P)?(\d{1,2})", raw)
        if m and raw.startswith("P") and int(m.group(1)) > 7:
            return None
    if not m:
        return None
    n = int(m.group(1))
    return n if max(low, 1) <= n <= high else None


# ---------------------------------------------------------------------------------------------
# Deriving year groups


def birth_cohort(
    date_of_birth: date, *, jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES
) -> int:
    """The birth cohort: the calendar year in which the pupil's 12-month birth window starts.

    England and Wales: 1 September-31 August; Scotland: 1 March-end of February (29 February
    falls in the earlier cohort); Northern Ireland: 2 July-1 July. Store it once per pupil: it
    never changes, whatever year group the pupil is taught in.
    """
    cut = {
        Jurisdiction.ENGLAND_WALES: (9, 1),
        Jurisdiction.SCOTLAND: (3, 1),
        Jurisdiction.NORTHERN_IRELAND: (7, 2),
    }[jurisdiction]
    on_or_after = (date_of_birth.month, date_of_birth.day) >= cut
    return date_of_birth.year if on_or_after else date_of_birth.year - 1


# Years between the cohort's start year and the start year of its first school year (R/P1/Y1).
_ENTRY_GAP = 5


def _as_date(field: str, value: object) -> date:
    """*value* as a date (a datetime gives its date), else :class:`InvalidDateError`."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise InvalidDateError(field, value, "must be a date")


def _as_jurisdiction(value: object) -> Jurisdiction:
    try:
        return Jurisdiction(str(value))
    except ValueError:
        raise ValidationError(
            "jurisdiction", value, f"must be one of {', '.join(j.value for j in Jurisdiction)}"
        ) from None


def year_number_for(
    date_of_birth: date,
    on: date,
    *,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
    start: YearStart | None = None,
) -> int:
    """The unbounded year number of :class:`YearCode` that the birth date gives on *on*.

    ``academic start year - birth cohort - 5 + first year number``: England and Wales 0 is
    Reception, Scotland and Northern Ireland 1 is P1/Year 1. Values outside the named years are
    returned as they are (e.g. ``-3`` for a baby); :func:`year_group_for` checks the range.
    """
    year_start = start or jurisdiction.default_start
    academic = AcademicYear.containing(on, start=year_start).start_year
    cohort = birth_cohort(date_of_birth, jurisdiction=jurisdiction)
    return academic - cohort - _ENTRY_GAP + _FIRST_SCHOOL_YEAR[jurisdiction]


def year_group_for(
    date_of_birth: date,
    on: date,
    *,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
    offset: int = 0,
    start: YearStart | None = None,
) -> YearCode:
    """The year group a pupil born on *date_of_birth* is in on *on*.

    England and Wales: the age on 31 August before the school year (``N1`` at 2, ``N2`` at 3,
    ``R`` at 4, Year 1 at 5, ... Year 14 at 18). Scotland: P1 is the August session after the
    March-February cohort's 4th-5th birthdays, then P1-P7, S1-S6. Northern Ireland: Year 1 for
    children who turned 4 between 2 July and 1 July of the previous school year, Y1-Y14.

    Args:
        offset: years to add for a pupil taught out of their chronological year group
            (``-1`` for a deferred summer-born child admitted to Reception a year late).
        start: when the year group changes (default :attr:`Jurisdiction.default_start`:
            1 September; 1 August in Scotland, where a council's session start can be given).

    A ``datetime`` for either date counts as its date.

    Raises:
        InvalidDateError: (field ``date_of_birth``) when the birth date is after *on* or the
            pupil is outside the named years (younger than ``N1``/``P1``/``Y1``, older than
            Year 14/``S6``). ``E1``/``E2`` are never derived. Also (field ``date_of_birth``
            or ``on``) when either is not a date.
        ValidationError: (field ``jurisdiction``) for an unknown jurisdiction.
    """
    stage = school_stage_for(
        date_of_birth, on, jurisdiction=jurisdiction, offset=offset, start=start
    )
    if isinstance(stage, NotYetInSchool):
        raise InvalidDateError(
            "date_of_birth",
            date_of_birth,
            f"gives no year group on {on.isoformat()}: {stage} "
            "(school_stage_for reports this without raising)",
        )
    return stage


@attrs.frozen(kw_only=True)
class NotYetInSchool:
    """A child too young for the first year group on a date: pre-school age (a Northern
    Ireland or Scottish three-year-old, an English baby), not an error in their record.

    ``first_year`` is the first year group (``N1``, ``P1``, ``Y1``) and ``starts`` the academic
    year the child reaches it (for the jurisdiction's usual entry, without deferral).
    """

    jurisdiction: Jurisdiction
    first_year: YearCode
    starts: AcademicYear

    def __str__(self) -> str:
        return f"not yet in school (pre-school age; {self.first_year.label} from {self.starts})"


def school_stage_for(
    date_of_birth: date,
    on: date,
    *,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
    offset: int = 0,
    start: YearStart | None = None,
) -> YearCode | NotYetInSchool:
    """Like :func:`year_group_for`, but a child younger than the first year group is reported
    as :class:`NotYetInSchool` instead of raising (a Northern Ireland nursery child has no year
    group yet, and that is not a bad birth date).

    Raises:
        InvalidDateError: the birth date is after *on*, the pupil is older than the last year
            group, or either is not a date.
        ValidationError: (field ``jurisdiction``) for an unknown jurisdiction.
    """
    date_of_birth, on = _as_date("date_of_birth", date_of_birth), _as_date("on", on)
    jurisdiction = _as_jurisdiction(jurisdiction)
    if date_of_birth > on:
        raise InvalidDateError("date_of_birth", date_of_birth, f"is after {on.isoformat()}")
    number = year_number_for(date_of_birth, on, jurisdiction=jurisdiction, start=start) + offset
    low, high = _RANGES[jurisdiction]
    if number < low:
        year_start = start or jurisdiction.default_start
        now = AcademicYear.containing(on, start=year_start)
        starts = AcademicYear(now.start_year + (low - number), start=year_start)
        return NotYetInSchool(
            jurisdiction=jurisdiction, first_year=YearCode(jurisdiction, low), starts=starts
        )
    if number > high:
        first, last = YearCode(jurisdiction, low).code, YearCode(jurisdiction, high).code
        raise InvalidDateError(
            "date_of_birth",
            date_of_birth,
            f"gives no year group on {on.isoformat()} (outside {first}..{last})",
        )
    return YearCode(jurisdiction, number)


class YearGroupStatus(StrEnum):
    """How the MIS's year group compares with the one the birth date gives."""

    IN_YEAR_GROUP = "in_year_group"
    OUT_OF_YEAR_GROUP = "out_of_year_group"
    NOT_COMPARABLE = "not_comparable"


@attrs.frozen(kw_only=True)
class YearGroupCheck:
    """The year derived from the birth date next to the year the MIS reports.

    A difference is flagged, never corrected: the MIS's year (``reported``) stays the source of
    truth for classes and year groups; the chronological one is kept for statistics.
    ``difference`` is reported minus chronological (``-1``: taught a year below, e.g. deferred
    summer-born entry; ``+1``: a year above). ``reason`` says why a check is not comparable.
    """

    chronological: YearCode | None
    reported: str | None
    reported_code: YearCode | None
    status: YearGroupStatus
    reason: str | None = None

    @property
    def out_of_year_group(self) -> bool:
        """True when the MIS year differs from the chronological one."""
        return self.status is YearGroupStatus.OUT_OF_YEAR_GROUP

    @property
    def difference(self) -> int | None:
        """Reported minus chronological year number, or ``None`` when not comparable."""
        if self.chronological is None or self.reported_code is None:
            return None
        return self.reported_code.number - self.chronological.number


def check_year_group(
    date_of_birth: date | None,
    reported: str | None,
    on: date,
    *,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
    start: YearStart | None = None,
) -> YearGroupCheck:
    """Compare the year a birth date gives on *on* with the *reported* MIS year code.

    Never raises for missing or odd data: a blank birth date or year, a code that is never
    derived (``E1``, ``E2``, ``X``) or a pupil outside the named years gives
    :attr:`YearGroupStatus.NOT_COMPARABLE` with a reason.
    """
    chronological: YearCode | None = None
    reason: str | None = None
    if date_of_birth is None:
        reason = "no date of birth"
    else:
        try:
            stage = school_stage_for(date_of_birth, on, jurisdiction=jurisdiction, start=start)
        except InvalidDateError as exc:
            reason = f"date of birth {exc.reason}"
        else:
            if isinstance(stage, NotYetInSchool):
                reason = str(stage)
            else:
                chronological = stage
    reported_code = YearCode.parse_optional(reported, jurisdiction)
    if reported_code is None and reason is None:
        reason = "no year reported" if not (reported or "").strip() else "year is not derivable"
    if chronological is None or reported_code is None:
        status = YearGroupStatus.NOT_COMPARABLE
    elif chronological == reported_code:
        status = YearGroupStatus.IN_YEAR_GROUP
    else:
        status = YearGroupStatus.OUT_OF_YEAR_GROUP
    return YearGroupCheck(
        chronological=chronological,
        reported=reported,
        reported_code=reported_code,
        status=status,
        reason=reason,
    )


def compare_year_group(
    pupil: Pupil,
    on: date,
    *,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
    start: YearStart | None = None,
) -> YearGroupCheck:
    """:func:`check_year_group` for a pupil's ``date_of_birth`` and MIS ``year_code``."""
    return check_year_group(
        pupil.date_of_birth, pupil.year_code, on, jurisdiction=jurisdiction, start=start
    )


# ---------------------------------------------------------------------------------------------
# Cohorts


@attrs.frozen
class IntakeCohort:
    """A cohort named after the academic year it entered school (Reception, P1 or Year 1).

    Pupils keep their cohort for their whole school career; ``intake_year`` (the entry year's
    start year) is what :attr:`schoolsync.people.YearGroup.intake_year` stores.
    """

    jurisdiction: Jurisdiction
    entry_year: AcademicYear

    @property
    def intake_year(self) -> int:
        """The calendar year in which the cohort started school."""
        return self.entry_year.start_year

    @property
    def label(self) -> str:
        """E.g. ``"2019/20 Reception intake"``."""
        return f"{self.entry_year.label} {_FIRST_YEAR_NAME[self.jurisdiction]} intake"

    @property
    def birth_dates(self) -> tuple[date, date]:
        """The first and last birth dates of pupils in this cohort chronologically."""
        cohort = self.intake_year - _ENTRY_GAP
        if self.jurisdiction is Jurisdiction.ENGLAND_WALES:
            return date(cohort, 9, 1), date(cohort + 1, 8, 31)
        if self.jurisdiction is Jurisdiction.SCOTLAND:
            return date(cohort, 3, 1), date(cohort + 1, 3, 1) - timedelta(days=1)
        return date(cohort, 7, 2), date(cohort + 1, 7, 1)

    def year_code_in(self, academic_year: AcademicYear) -> YearCode:
        """The year group this cohort is in during *academic_year*.

        Raises:
            ValidationError: when the cohort is outside the named years then.
        """
        years_in = academic_year.start_year - self.intake_year
        return YearCode(self.jurisdiction, _FIRST_SCHOOL_YEAR[self.jurisdiction] + years_in)

    @classmethod
    def of_birth(
        cls,
        date_of_birth: date,
        *,
        jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
        start: YearStart | None = None,
    ) -> IntakeCohort:
        """The chronological cohort of a birth date."""
        entry = birth_cohort(date_of_birth, jurisdiction=jurisdiction) + _ENTRY_GAP
        return cls(jurisdiction, AcademicYear(entry, start or jurisdiction.default_start))


def intake_cohort(
    nc_year: YearCode | str,
    academic_year: AcademicYear | date | int,
    *,
    started_this_year: bool | None = None,
    jurisdiction: Jurisdiction | None = None,
) -> IntakeCohort:
    """The intake cohort of the pupils in year group *nc_year*.

    Two ways to say which school year the MIS data is for:

    * ``academic_year`` is an :class:`AcademicYear` (or its start year as an ``int``), with
      ``started_this_year`` omitted;
    * ``academic_year`` is today's date (or the current calendar year) and
      ``started_this_year`` answers "did the pupils in the MIS start their school year this
      calendar year or last year?": the school year then started in that year or the one
      before (the choice an MIS sync asks for at year-group set-up).

    Raises:
        ValidationError: when *nc_year* is not a year code, or the inputs are inconsistent
            (an :class:`AcademicYear` with ``started_this_year``, a date without it).
    """
    code = (
        nc_year
        if isinstance(nc_year, YearCode)
        else YearCode.parse(nc_year, jurisdiction or Jurisdiction.ENGLAND_WALES)
    )
    where = code.jurisdiction
    if isinstance(academic_year, AcademicYear):
        if started_this_year is not None:
            raise ValidationError(
                "started_this_year", started_this_year, "give it only with today's date or year"
            )
        year = academic_year
    else:
        if isinstance(academic_year, date):
            if started_this_year is None:
                raise ValidationError("started_this_year", None, "required when a date is given")
            calendar_year = academic_year.year
        else:
            calendar_year = academic_year
        start_year = (
            calendar_year if started_this_year is None or started_this_year else calendar_year - 1
        )
        year = AcademicYear(start_year, where.default_start)
    entry = year.shifted(-(code.number - _FIRST_SCHOOL_YEAR[where]))
    return IntakeCohort(where, entry)


# ---------------------------------------------------------------------------------------------
# Promotion at rollover


def _as_code(value: YearCode | str, jurisdiction: Jurisdiction) -> YearCode:
    return value if isinstance(value, YearCode) else YearCode.parse(value, jurisdiction)


def promote(
    code: YearCode | str,
    *,
    final_year: YearCode | str | None = None,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
) -> YearCode | None:
    """The year group after *code* at rollover, or ``None`` for a leaver.

    A pupil in the school's *final_year* (or beyond it) leaves; without ``final_year`` only the
    jurisdiction's last year (Year 14, S6, Y14) leaves.

    Raises:
        ValidationError: for a code that is not a derivable year code (``E1``, ``E2``, ``X``...).
    """
    current = _as_code(code, jurisdiction)
    if final_year is not None and current >= _as_code(final_year, current.jurisdiction):
        return None
    return current.next()


_T = TypeVar("_T")


@attrs.frozen(kw_only=True)
class Rollover(Generic[_T]):
    """The result of promoting a school into the next academic year.

    ``promoted`` holds the items moved up a year (pupils with their new ``year_code``, or the
    new codes); ``leavers`` the items in the school's final year group (unchanged);
    ``unchanged`` the items whose year cannot be promoted (no year, ``E1``/``E2``/``X`` or an
    unknown code): the MIS says where they go next year.
    """

    from_year: AcademicYear
    to_year: AcademicYear
    promoted: tuple[_T, ...]
    leavers: tuple[_T, ...]
    unchanged: tuple[_T, ...]


@overload
def rollover_school(
    items: Iterable[Pupil],
    from_year: AcademicYear,
    final_year: YearCode | str,
    *,
    jurisdiction: Jurisdiction = ...,
) -> Rollover[Pupil]: ...
@overload
def rollover_school(
    items: Iterable[YearCode],
    from_year: AcademicYear,
    final_year: YearCode | str,
    *,
    jurisdiction: Jurisdiction = ...,
) -> Rollover[YearCode]: ...
@overload
def rollover_school(
    items: Iterable[str],
    from_year: AcademicYear,
    final_year: YearCode | str,
    *,
    jurisdiction: Jurisdiction = ...,
) -> Rollover[str]: ...
def rollover_school(
    items: Iterable[Pupil] | Iterable[YearCode] | Iterable[str],
    from_year: AcademicYear,
    final_year: YearCode | str,
    *,
    jurisdiction: Jurisdiction = Jurisdiction.ENGLAND_WALES,
) -> Rollover[Pupil] | Rollover[YearCode] | Rollover[str]:
    """Promote every pupil (or year code) of a school from *from_year* into the next year.

    *items* are pupils (their MIS ``year_code`` is read), :class:`YearCode` values or code
    strings; the result holds the same kind. Pupils keep their ``intake_year``; only
    ``year_code`` changes, to the canonical code of the next year. Items in *final_year* or
    above are the leavers. Input order is kept.

    Raises:
        ValidationError: when *final_year* is not a year code.
    """
    final = _as_code(final_year, jurisdiction)
    promoted: list[Pupil | YearCode | str] = []
    leavers: list[Pupil | YearCode | str] = []
    unchanged: list[Pupil | YearCode | str] = []
    for item in items:
        text = item.year_code if isinstance(item, Pupil) else item
        current = (
            text
            if isinstance(text, YearCode)
            else YearCode.parse_optional(text, final.jurisdiction)
        )
        if current is None:
            unchanged.append(item)
            continue
        after = promote(current, final_year=final)
        if after is None:
            leavers.append(item)
        elif isinstance(item, Pupil):
            promoted.append(attrs.evolve(item, year_code=after.code))
        elif isinstance(item, YearCode):
            promoted.append(after)
        else:
            promoted.append(after.code)
    return Rollover(  # type: ignore[return-value]
        from_year=from_year,
        to_year=from_year.next(),
        promoted=tuple(promoted),
        leavers=tuple(leavers),
        unchanged=tuple(unchanged),
    )
