"""Invariants of the academic calendar, for all three jurisdictions."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schoolsync.calendar import (
    AcademicYear,
    IntakeCohort,
    Jurisdiction,
    YearCode,
    YearStart,
    academic_year_containing,
    compare_year_group,
    intake_cohort,
    rollover_school,
    year_group_for,
    year_number_for,
)
from schoolsync.errors import InvalidDateError, ValidationError
from schoolsync.people import Pupil
from schoolsync.testing.strategies import pupils, twins

jurisdictions = st.sampled_from(list(Jurisdiction))
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))
starts = st.builds(YearStart, st.integers(1, 12), st.integers(1, 28))


@given(jurisdictions, days, days, days)
def test_year_never_decreases_as_the_date_advances(
    where: Jurisdiction, dob: date, on1: date, on2: date
) -> None:
    """For a fixed birth date, a later date never gives an earlier year group."""
    early, late = sorted((on1, on2))
    assert year_number_for(dob, early, jurisdiction=where) <= year_number_for(
        dob, late, jurisdiction=where
    )


@given(jurisdictions, days, days, days)
def test_year_never_increases_as_the_birth_date_advances(
    where: Jurisdiction, dob1: date, dob2: date, on: date
) -> None:
    """On a fixed date, a later birth date never gives a later year group."""
    older, younger = sorted((dob1, dob2))
    assert year_number_for(older, on, jurisdiction=where) >= year_number_for(
        younger, on, jurisdiction=where
    )


@given(jurisdictions, days, days)
def test_year_steps_up_only_on_the_start_date(where: Jurisdiction, dob: date, on: date) -> None:
    """From one day to the next the year group rises by one on the year start, else not at all."""
    tomorrow = on + timedelta(days=1)
    step = year_number_for(dob, tomorrow, jurisdiction=where) - year_number_for(
        dob, on, jurisdiction=where
    )
    start = where.default_start
    assert step == (1 if (tomorrow.month, tomorrow.day) == (start.month, start.day) else 0)


@given(st.integers(1995, 2040), days)
def test_31_august_is_a_year_above_1_september(year: int, on: date) -> None:
    """England and Wales: born 31 August is exactly one year above born 1 September."""
    assert year_number_for(date(year, 8, 31), on) == year_number_for(date(year, 9, 1), on) + 1


@given(st.integers(1995, 2040).filter(lambda y: y % 4 == 0 and (y % 100 or y % 400 == 0)), days)
def test_29_february_births(year: int, on: date) -> None:
    """29 February sits with 28 February everywhere; only Scotland's 1 March cut-off follows."""
    leap = date(year, 2, 29)
    for where in Jurisdiction:
        number = year_number_for(leap, on, jurisdiction=where)
        assert number == year_number_for(date(year, 2, 28), on, jurisdiction=where)
        after = year_number_for(date(year, 3, 1), on, jurisdiction=where)
        assert after == (number - 1 if where is Jurisdiction.SCOTLAND else number)


@given(jurisdictions, days, days)
def test_year_group_for_agrees_with_the_number_or_raises(
    where: Jurisdiction, dob: date, on: date
) -> None:
    """year_group_for returns the derived year when it is named, and raises otherwise."""
    number = year_number_for(dob, on, jurisdiction=where)
    try:
        code = year_group_for(dob, on, jurisdiction=where)
    except InvalidDateError:
        try:
            YearCode(where, number)
        except ValidationError:
            return  # outside the named years
        assert dob > on
        return
    assert number == code.number
    assert code == YearCode.parse(code.code, where)


@given(days, starts)
def test_every_date_is_in_exactly_one_academic_year(day: date, start: YearStart) -> None:
    """The containing year contains the date; its neighbours do not."""
    year = academic_year_containing(day, start=start)
    assert year.contains(day)
    assert not year.previous().contains(day)
    assert not year.next().contains(day)
    assert year.next().start_date == year.end_date + timedelta(days=1)


@given(st.integers(1, 9997))
def test_labels_round_trip(start_year: int) -> None:
    """An academic year's label parses back to it."""
    year = AcademicYear(start_year)
    assert year == AcademicYear.parse(year.label)


@given(jurisdictions, days, days)
def test_cohort_of_birth_names_the_year_group(where: Jurisdiction, dob: date, on: date) -> None:
    """The birth date's intake cohort, and the intake cohort of the derived year, agree."""
    try:
        code = year_group_for(dob, on, jurisdiction=where)
    except InvalidDateError:
        return
    now = AcademicYear.containing(on, start=where.default_start)
    cohort = IntakeCohort.of_birth(dob, jurisdiction=where)
    assert cohort == intake_cohort(code, now)
    assert code == cohort.year_code_in(now)
    first, last = cohort.birth_dates
    assert first <= dob <= last


@given(st.lists(pupils(), max_size=12), st.sampled_from(["6", "11", "13"]))
def test_rollover_moves_everyone_up_one_year_or_out(roll: list[Pupil], final: str) -> None:
    """Every pupil is promoted by exactly one year, or leaves from the final year or above."""
    result = rollover_school(roll, AcademicYear(2025), final)
    assert len(roll) == len(result.promoted) + len(result.leavers) + len(result.unchanged)
    assert () == result.unchanged  # every generated pupil has a derivable year
    before = {p.id: YearCode.parse(p.year_code or "") for p in roll}
    for pupil in result.promoted:
        assert before[pupil.id].number + 1 == YearCode.parse(pupil.year_code or "").number
    for pupil in result.leavers:
        assert before[pupil.id] >= YearCode.parse(final)


@given(
    pupils(),
    pupils(jurisdiction=Jurisdiction.SCOTLAND),
    pupils(jurisdiction=Jurisdiction.NORTHERN_IRELAND),
)
def test_generated_pupils_are_in_their_chronological_year(
    england: Pupil, scotland: Pupil, ni: Pupil
) -> None:
    """The strategies give pupils whose MIS year matches their birth date."""
    on = date(2025, 9, 1)
    assert not compare_year_group(england, on).out_of_year_group
    assert 0 == compare_year_group(england, on).difference
    assert 0 == compare_year_group(scotland, on, jurisdiction=Jurisdiction.SCOTLAND).difference
    assert 0 == compare_year_group(ni, on, jurisdiction=Jurisdiction.NORTHERN_IRELAND).difference


@given(twins())
def test_twins_share_surname_birth_date_and_year_but_not_identity(
    pair: tuple[Pupil, Pupil],
) -> None:
    """Twins are two pupils: same surname, birth date and year; different ids and UPNs."""
    a, b = pair
    assert (a.surname, a.date_of_birth, a.year_code, a.school_id) == (
        b.surname, b.date_of_birth, b.year_code, b.school_id,
    )  # fmt: skip
    assert a.id != b.id
    assert a.upn != b.upn
    assert a.forename != b.forename


@given(days, st.integers(-3, 3))
def test_offset_shifts_the_derived_year(dob: date, offset: int) -> None:
    """An explicit offset moves the derived year by exactly that many years."""
    on = dob + timedelta(days=365 * 10)
    base = year_group_for(dob, on)
    shifted = year_group_for(dob, on, offset=offset)  # Year 4/5 +- 3 stays in range
    assert base.number + offset == shifted.number
