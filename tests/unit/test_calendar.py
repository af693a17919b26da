"""The academic calendar: academic years, year groups, cohorts and rollover (rules.md §2)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schoolsync.calendar import (
    AcademicYear,
    IntakeCohort,
    Jurisdiction,
    YearCode,
    YearGroupStatus,
    YearStart,
    academic_year_containing,
    birth_cohort,
    check_year_group,
    compare_year_group,
    intake_cohort,
    promote,
    rollover_school,
    year_group_for,
)
from schoolsync.errors import InvalidDateError, SchoolsyncError, ValidationError
from schoolsync.people import Pupil
from schoolsync.trusts import Country

EW = Jurisdiction.ENGLAND_WALES
SCO = Jurisdiction.SCOTLAND
NI = Jurisdiction.NORTHERN_IRELAND


class TestAcademicYear:
    def test_label_dates_and_neighbours(self) -> None:
        """2025/26 runs 1 Sep 2025 to 31 Aug 2026, between 2024/25 and 2026/27."""
        year = AcademicYear(2025)
        assert "2025/26" == year.label == str(year)
        assert date(2025, 9, 1) == year.start_date
        assert date(2026, 8, 31) == year.end_date
        assert "2024/25" == year.previous().label
        assert "2026/27" == year.next().label
        assert year.previous() < year < year.next()

    def test_century_label(self) -> None:
        """The second part of the label is two digits, also across a century."""
        assert "1999/00" == AcademicYear(1999).label

    def test_containing_uses_the_start_date(self) -> None:
        """31 August belongs to the old year and 1 September to the new one."""
        assert 2024 == academic_year_containing(date(2025, 8, 31)).start_year
        assert 2025 == academic_year_containing(date(2025, 9, 1)).start_year
        assert date(2025, 9, 1) in AcademicYear(2025)
        assert date(2025, 8, 31) not in AcademicYear(2025)

    def test_configurable_start(self) -> None:
        """A 1 August year (funding contexts, Scotland) ends on 31 July."""
        august = YearStart(8, 1)
        year = academic_year_containing(date(2025, 8, 1), start=august)
        assert 2025 == year.start_year
        assert date(2026, 7, 31) == year.end_date
        assert year.contains(date(2026, 7, 31))

    @pytest.mark.parametrize("text", ["2019/20", "2019-20", "2019/2020", "201920", " 2019 / 20 "])
    def test_lenient_label_parsing(self, text: str) -> None:
        """R2.18: the usual spellings of a year label all read as 2019/20."""
        assert AcademicYear(2019) == AcademicYear.parse(text)

    @pytest.mark.parametrize("text", ["2019/21", "2019", "19/20", "2019/2021", "next year"])
    def test_bad_labels_are_refused(self, text: str) -> None:
        """A label whose years are not consecutive, or not a label, is an InvalidDateError."""
        with pytest.raises(InvalidDateError) as info:
            AcademicYear.parse(text)
        assert "academic_year" == info.value.field

    def test_29_february_is_not_a_start(self) -> None:
        """A year cannot start on a day that does not exist every year."""
        with pytest.raises(InvalidDateError):
            YearStart(2, 29)
        with pytest.raises(InvalidDateError):
            YearStart(13, 1)

    def test_years_with_different_starts_do_not_order(self) -> None:
        """Comparing a 1 September year with a 1 August year is a mistake, not False."""
        with pytest.raises(TypeError):
            _ = AcademicYear(2025) < AcademicYear(2025, YearStart(8, 1))


class TestEnglandAndWales:
    @pytest.mark.parametrize(
        ("dob", "on", "expected"),
        [
            (date(2016, 8, 31), date(2020, 9, 1), "R"),  # witan vectors (R2.3)
            (date(2016, 9, 1), date(2020, 9, 1), "N2"),
            (date(2016, 9, 1), date(2021, 9, 1), "R"),
            (date(2016, 2, 29), date(2020, 9, 1), "R"),  # R2.5
            (date(2016, 2, 29), date(2027, 7, 20), "6"),
            (date(2013, 9, 1), date(2025, 9, 1), "7"),
            (date(2014, 8, 31), date(2025, 9, 1), "7"),
            (date(2007, 9, 1), date(2025, 9, 1), "13"),
            (date(2018, 1, 1), date(2020, 9, 1), "N1"),
        ],
    )
    def test_known_year_groups(self, dob: date, on: date, expected: str) -> None:
        """The age on 31 August before the school year gives the NC year."""
        assert expected == year_group_for(dob, on).code

    def test_31_august_and_1_september_births(self) -> None:
        """The 31 August child is the youngest in a year; 1 September the oldest a year below."""
        on = date(2025, 10, 1)
        assert "2" == year_group_for(date(2019, 8, 31), on).code
        assert "1" == year_group_for(date(2019, 9, 1), on).code
        assert "1" == year_group_for(date(2020, 8, 31), on).code
        assert "R" == year_group_for(date(2020, 9, 1), on).code
        assert "N2" == year_group_for(date(2021, 9, 1), on).code

    def test_year_changes_on_1_september(self) -> None:
        """As-of 31 August belongs to the old year group, as-of 1 September to the new one."""
        dob = date(2015, 3, 15)
        assert "5" == year_group_for(dob, date(2025, 8, 31)).code
        assert "6" == year_group_for(dob, date(2025, 9, 1)).code

    def test_offset_for_a_deferred_summer_born_pupil(self) -> None:
        """offset=-1 places a deferred summer-born child in Reception a year late."""
        dob = date(2019, 7, 20)
        on = date(2024, 9, 5)
        assert "1" == year_group_for(dob, on).code
        assert "R" == year_group_for(dob, on, offset=-1).code

    @pytest.mark.parametrize(
        ("dob", "on"),
        [
            (date(2024, 1, 1), date(2025, 9, 1)),  # too young for N1: E1/E2 never derived
            (date(2005, 6, 1), date(2025, 9, 1)),  # past Year 14
            (date(2026, 1, 1), date(2025, 9, 1)),  # born after the date
        ],
    )
    def test_outside_the_named_years_raises(self, dob: date, on: date) -> None:
        """Out of range is an InvalidDateError naming the date_of_birth field."""
        with pytest.raises(InvalidDateError) as info:
            year_group_for(dob, on)
        assert "date_of_birth" == info.value.field
        assert isinstance(info.value, SchoolsyncError)

    def test_a_datetime_counts_as_its_date(self) -> None:
        """A clock reading passed as ``on`` gives the year group of its date."""
        on = datetime(2025, 9, 1, 8, 30, tzinfo=UTC)
        assert "6" == year_group_for(date(2015, 3, 15), on).code

    @pytest.mark.parametrize(
        ("dob", "on", "field"),
        [
            ("2015-03-15", date(2025, 9, 1), "date_of_birth"),
            (None, date(2025, 9, 1), "date_of_birth"),
            (date(2015, 3, 15), "2025-09-01", "on"),
        ],
    )
    def test_values_that_are_not_dates_are_refused(
        self, dob: object, on: object, field: str
    ) -> None:
        """Bad input is a SchoolsyncError naming the field, never a bare TypeError."""
        with pytest.raises(InvalidDateError) as info:
            year_group_for(dob, on)  # type: ignore[arg-type]
        assert field == info.value.field

    def test_unknown_jurisdiction_is_refused(self) -> None:
        """A jurisdiction name is read as a Jurisdiction; an unknown one is a ValidationError."""
        dob, on = date(2015, 3, 15), date(2025, 9, 1)
        assert "P6" == year_group_for(dob, on, jurisdiction="scotland").code  # type: ignore[arg-type]
        with pytest.raises(ValidationError) as info:
            year_group_for(dob, on, jurisdiction="wales")  # type: ignore[arg-type]
        assert "jurisdiction" == info.value.field

    def test_year_14_exists(self) -> None:
        """R2.6: 14 is on the census code list, and an 18-year-old on 31 August is in it."""
        assert "14" == year_group_for(date(2006, 9, 1), date(2025, 9, 1)).code


class TestScotland:
    def test_edinburgh_and_fife_examples(self) -> None:
        """R2.11: DOB 14 Aug 2019 - 29 Feb 2020 start P1 in Aug 2024; Fife's 2026 cohort."""
        session = date(2024, 8, 20)
        for dob in (date(2019, 8, 14), date(2020, 2, 29), date(2019, 3, 1)):
            assert "P1" == year_group_for(dob, session, jurisdiction=SCO).code
        assert "P1" == year_group_for(date(2021, 8, 21), date(2026, 8, 20), jurisdiction=SCO).code
        assert "P1" == year_group_for(date(2022, 2, 28), date(2026, 8, 20), jurisdiction=SCO).code

    def test_1_march_cut_off_and_leap_day(self) -> None:
        """29 February and 28 February are in the earlier cohort, 1 March in the later one."""
        on = date(2024, 9, 1)
        assert "P1" == year_group_for(date(2020, 2, 29), on, jurisdiction=SCO).code
        assert "P2" == year_group_for(date(2019, 2, 28), on, jurisdiction=SCO).code
        assert "P1" == year_group_for(date(2019, 3, 1), on, jurisdiction=SCO).code

    def test_stages_run_p1_to_s6(self) -> None:
        """P7 is followed by S1; S6 is the last stage."""
        assert "S1" == year_group_for(date(2013, 5, 1), date(2025, 9, 1), jurisdiction=SCO).code
        assert "S6" == year_group_for(date(2008, 5, 1), date(2025, 9, 1), jurisdiction=SCO).code
        assert "Secondary 6" == YearCode.parse("S6", SCO).label
        with pytest.raises(InvalidDateError):
            year_group_for(date(2007, 5, 1), date(2025, 9, 1), jurisdiction=SCO)

    def test_session_start_is_configurable(self) -> None:
        """The stage changes on the council's session start (default 1 August)."""
        dob = date(2019, 6, 1)
        assert "P1" == year_group_for(dob, date(2024, 8, 1), jurisdiction=SCO).code
        late = YearStart(8, 19)
        with pytest.raises(InvalidDateError):
            year_group_for(dob, date(2024, 8, 18), jurisdiction=SCO, start=late)
        assert "P1" == year_group_for(dob, date(2024, 8, 19), jurisdiction=SCO, start=late).code


class TestNorthernIreland:
    @pytest.mark.parametrize(
        ("dob", "expected"),
        [
            (date(2016, 7, 1), "Y1"),  # turns 4 on 1 July: starts the next September
            (date(2015, 9, 1), "Y1"),
            (date(2015, 7, 2), "Y1"),  # turns 4 on 2 July: starts after the 5th birthday
            (date(2015, 7, 1), "Y2"),
            (date(2016, 7, 2), None),  # too young on 1 Sep 2020
        ],
    )
    def test_1_july_cut_off(self, dob: date, expected: str | None) -> None:
        """R2.14/R2.17: the 2 July - 1 July birth cohort starts Year 1 together."""
        on = date(2020, 9, 1)
        if expected is None:
            with pytest.raises(InvalidDateError):
                year_group_for(dob, on, jurisdiction=NI)
        else:
            assert expected == year_group_for(dob, on, jurisdiction=NI).code

    def test_primary_names_read_as_years(self) -> None:
        """NI schools call primary years P1-P7; they read as Y1-Y7, post-primary Y8-Y14."""
        assert "Y3" == YearCode.parse("P3", NI).code
        assert "Y8" == YearCode.parse("Year 8", NI).code
        assert YearCode.parse_optional("P8", NI) is None


class TestYearCode:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [("7", "7"), ("07", "7"), ("Year 7", "7"), ("Y7", "7"), ("YR", "R"), ("Reception", "R"),
         ("rec", "R"), ("N1", "N1"), ("Nursery 2", "N2"), ("year_10", "10")],
    )  # fmt: skip
    def test_lenient_parsing(self, text: str, expected: str) -> None:
        """MIS spellings of England/Wales year groups read as the canonical code."""
        assert expected == YearCode.parse(text).code

    @pytest.mark.parametrize("text", ["E1", "E2", "X", "M", "15", "P3", "", "Year Z"])
    def test_not_derivable_codes_are_refused(self, text: str) -> None:
        """E1, E2, X and M are valid MIS codes but never derived or promoted."""
        with pytest.raises(ValidationError) as info:
            YearCode.parse(text)
        assert "year_code" == info.value.field
        assert YearCode.parse_optional(text) is None

    def test_order_within_a_jurisdiction_only(self) -> None:
        """Year codes order by number; comparing across jurisdictions is an error."""
        assert YearCode.parse("N1") < YearCode.parse("R") < YearCode.parse("1")
        with pytest.raises(TypeError):
            _ = YearCode.parse("1") < YearCode.parse("P1", SCO)

    def test_labels(self) -> None:
        """Human names for the codes."""
        assert ["Nursery 1", "Reception", "Year 7"] == [
            YearCode.parse(c).label for c in ("N1", "R", "7")
        ]
        assert "Primary 3" == YearCode.parse("P3", SCO).label

    def test_jurisdiction_for_country(self) -> None:
        """Wales shares England's rules; overseas schools follow England's."""
        assert EW == Jurisdiction.for_country(Country.WALES)
        assert EW == Jurisdiction.for_country(Country.OVERSEAS)
        assert SCO == Jurisdiction.for_country(Country.SCOTLAND)
        assert NI == Jurisdiction.for_country(Country.NORTHERN_IRELAND)


class TestOutOfYearGroup:
    def test_difference_is_flagged_not_corrected(self) -> None:
        """A deferred summer-born pupil in Reception is out of year group by -1."""
        pupil = Pupil(
            id="p", school_id="s", forename="A", surname="B",
            date_of_birth=date(2019, 7, 20), year_code="R",
        )  # fmt: skip
        check = compare_year_group(pupil, date(2024, 9, 5))
        assert YearGroupStatus.OUT_OF_YEAR_GROUP == check.status
        assert check.out_of_year_group
        assert "1" == str(check.chronological)
        assert "R" == check.reported
        assert -1 == check.difference
        assert "R" == pupil.year_code  # never corrected

    def test_matching_year(self) -> None:
        """Same year from birth date and MIS: in year group, difference 0."""
        check = check_year_group(date(2013, 9, 1), "Year 7", date(2025, 9, 1))
        assert YearGroupStatus.IN_YEAR_GROUP == check.status
        assert 0 == check.difference

    @pytest.mark.parametrize(
        ("dob", "reported", "reason"),
        [
            (None, "3", "no date of birth"),
            (date(2013, 9, 1), None, "no year reported"),
            (date(2013, 9, 1), "X", "year is not derivable"),
            (date(2024, 1, 1), "E1", "not yet in school (pre-school age; Nursery 1 from 2026/27)"),
            (date(1990, 1, 1), "14", "date of birth"),
        ],
    )
    def test_not_comparable(self, dob: date | None, reported: str | None, reason: str) -> None:
        """Missing data, E1/E2/X and pupils outside the named years are not comparable."""
        check = check_year_group(dob, reported, date(2025, 9, 1))
        assert YearGroupStatus.NOT_COMPARABLE == check.status
        assert check.difference is None
        assert check.reason is not None
        assert check.reason.startswith(reason)


class TestCohorts:
    def test_birth_cohort_per_jurisdiction(self) -> None:
        """Cut-offs: 1 September, 1 March, 2 July."""
        assert 2015 == birth_cohort(date(2016, 2, 29))
        assert 2015 == birth_cohort(date(2016, 2, 29), jurisdiction=SCO)
        assert 2016 == birth_cohort(date(2016, 3, 1), jurisdiction=SCO)
        assert 2015 == birth_cohort(date(2016, 7, 1), jurisdiction=NI)
        assert 2016 == birth_cohort(date(2016, 7, 2), jurisdiction=NI)

    def test_reception_intake_label_and_births(self) -> None:
        """R2.18: the 2019/20 Reception intake was born 1 Sep 2014 - 31 Aug 2015."""
        cohort = intake_cohort("R", AcademicYear(2019))
        assert "2019/20 Reception intake" == cohort.label
        assert (date(2014, 9, 1), date(2015, 8, 31)) == cohort.birth_dates
        assert cohort == IntakeCohort.of_birth(date(2015, 8, 31))
        assert "7" == cohort.year_code_in(AcademicYear(2026)).code

    @pytest.mark.parametrize(
        ("today", "started_this_year", "intake"),
        [
            (date(2025, 10, 1), True, 2018),  # autumn: the school year started this year
            (date(2026, 3, 1), False, 2018),  # spring: it started last calendar year
            (date(2026, 3, 1), True, 2019),  # the user's answer decides, not the clock
        ],
    )
    def test_started_this_year_or_last_year(
        self, today: date, started_this_year: bool, intake: int
    ) -> None:
        """The MIS sync's choice sets each year group's intake cohort (Year 7 here)."""
        cohort = intake_cohort("7", today, started_this_year=started_this_year)
        assert intake == cohort.intake_year

    def test_calendar_year_integer_with_started_this_year(self) -> None:
        """A calendar year works like a date; without the flag an int is the start year."""
        assert 2018 == intake_cohort("7", 2026, started_this_year=False).intake_year
        assert 2018 == intake_cohort("7", 2025).intake_year

    def test_inconsistent_inputs_are_refused(self) -> None:
        """An AcademicYear with started_this_year, or a date without it, is a ValidationError."""
        with pytest.raises(ValidationError):
            intake_cohort("7", AcademicYear(2025), started_this_year=True)
        with pytest.raises(ValidationError):
            intake_cohort("7", date(2025, 10, 1))

    def test_scotland_and_ni_cohorts(self) -> None:
        """P1 and Year 1 intakes, with their own birth windows."""
        scot = intake_cohort("P3", AcademicYear(2025, YearStart(8, 1)), jurisdiction=SCO)
        assert "2023/24 P1 intake" == scot.label
        assert (date(2018, 3, 1), date(2019, 2, 28)) == scot.birth_dates
        ni = intake_cohort(YearCode.parse("Y1", NI), AcademicYear(2020))
        assert "2020/21 Year 1 intake" == ni.label
        assert (date(2015, 7, 2), date(2016, 7, 1)) == ni.birth_dates


class TestRollover:
    def test_primary_school_rollover(self) -> None:
        """Everyone moves up one year; Year 6 leaves; X stays for the MIS to decide."""
        result = rollover_school(["N1", "N2", "R", "3", "6", "X"], AcademicYear(2025), "6")
        assert ("N2", "R", "1", "4") == result.promoted
        assert ("6",) == result.leavers
        assert ("X",) == result.unchanged
        assert AcademicYear(2026) == result.to_year

    def test_pupils_keep_their_cohort(self) -> None:
        """Promoted pupils get the next year code; intake year and ids are kept."""
        pupils = [
            Pupil(id="a", school_id="s", forename="A", surname="B", year_code="Year 10", intake_year=2016),
            Pupil(id="b", school_id="s", forename="C", surname="D", year_code="11"),
            Pupil(id="c", school_id="s", forename="E", surname="F", year_code=None),
        ]  # fmt: skip
        result = rollover_school(pupils, AcademicYear(2025), "11")
        (moved,) = result.promoted
        assert ("a", "11", 2016) == (moved.id, moved.year_code, moved.intake_year)
        assert ["b"] == [p.id for p in result.leavers]
        assert ["c"] == [p.id for p in result.unchanged]

    def test_scotland_p7_goes_to_s1(self) -> None:
        """A Scottish through-school promotes P7 to S1 and S6 leaves."""
        result = rollover_school(
            [YearCode.parse("P7", SCO), YearCode.parse("S6", SCO)],
            AcademicYear(2025, YearStart(8, 1)),
            "S6",
            jurisdiction=SCO,
        )
        assert ["S1"] == [c.code for c in result.promoted]
        assert ["S6"] == [c.code for c in result.leavers]

    def test_promote_one_code(self) -> None:
        """promote gives the next year, or None for the final year and beyond."""
        assert "Y8" == str(promote("Y7", jurisdiction=NI))
        assert promote("6", final_year="6") is None
        assert promote("7", final_year="6") is None
        assert promote("14") is None
        assert "R" == str(promote("N2"))
