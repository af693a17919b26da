"""Pure helpers of the readers: grade codes, dates, UPNs, warnings, header matching."""

from __future__ import annotations

import io
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import IO

import pytest

from schoolsync.errors import FileFormatError
from schoolsync.sources import GradeMapping, nc_year_for_grade, year_group_name
from schoolsync.sources._csv import (
    CsvFile,
    FileSpec,
    Warnings,
    parse_date,
    parse_datetime,
    parse_upn,
)


class TestGrades:
    @pytest.mark.parametrize(
        ("grade", "uk", "us"),
        [
            ("07", "7", "8"),
            ("7", "7", "8"),
            ("KG", "R", "1"),
            ("TK", "R", "R"),
            ("PK", "N2", "R"),
            ("PR", "N1", "N2"),
            ("IT", None, "N1"),
            ("12", "12", "13"),
            ("13", "13", "14"),
            ("UG", None, None),
            ("PS", None, None),
            ("Other", None, None),
            ("R", "R", "R"),
            ("N1", "N1", "N1"),
            ("Year 7", "7", "8"),
            ("Y10", "10", "11"),
        ],
    )
    def test_ceds_codes_map_to_nc_years(self, grade, uk, us):
        """CEDS grade codes map to NC years by the documented UK and US-age tables."""
        assert uk == nc_year_for_grade(grade)
        assert us == nc_year_for_grade(grade, GradeMapping.US_AGE)

    def test_long_or_non_ascii_digits_have_no_year(self):
        """Digit strings that are not grade numbers give no NC year (and never raise)."""
        assert nc_year_for_grade("7" * 5000) is None
        assert nc_year_for_grade("\u0667") is None
        assert nc_year_for_grade("00") is None

    def test_year_group_names(self):
        """Year group names read as schools write them."""
        assert ["Reception", "Nursery 2", "Year 7"] == [
            year_group_name(y) for y in ("R", "N2", "7")
        ]


class TestDates:
    def test_iso_date_is_silent(self):
        """An ISO date is read without a warning."""
        w = Warnings()
        assert date(2013, 10, 2) == parse_date("2013-10-02", file="f", field="d", warnings=w)
        assert [] == w.messages()

    def test_slash_dates_follow_day_first_and_warn(self):
        """d/m/yyyy by default, m/d/yyyy when asked; both warned."""
        w = Warnings()
        assert date(2023, 5, 1) == parse_date("1/05/2023", file="f", field="d", warnings=w, row=2)
        assert date(2023, 1, 5) == parse_date(
            "1/05/2023", file="f", field="d", warnings=w, row=3, day_first=False
        )
        assert 2 == len(w.messages())

    def test_slash_date_warning_holds_no_value(self):
        """The warning names file, row and field but not the date (a birth date is personal
        data, and warnings reach sync plans)."""
        w = Warnings()
        parse_date("02/10/2013", file="f.csv", field="DOB", warnings=w, row=7)
        assert ["f.csv, row 7, field 'DOB': slash date read as d/m/yyyy"] == w.messages()

    @pytest.mark.parametrize("text", ["2023-02-30", "31/31/2023", "yesterday", "1/5/23", ""])
    def test_bad_dates_are_errors(self, text):
        """Impossible or unreadable dates are FileFormatErrors naming file, row and field."""
        with pytest.raises(FileFormatError) as info:
            parse_date(text, file="f.csv", field="dob", warnings=Warnings(), row=4)
        assert ("f.csv", 4, "dob") == (info.value.file, info.value.row, info.value.field)

    def test_datetimes_without_offset_are_utc(self):
        """A date-time without an offset is UTC; Z is read; a bare date is midnight UTC."""
        w = Warnings()
        assert datetime(2023, 5, 1, 18, 25, 43, 511000, tzinfo=UTC) == parse_datetime(
            "2023-05-01T18:25:43.511Z", file="f", field="t", warnings=w
        )
        assert datetime(2017, 5, 6, 8, 1, 5, tzinfo=UTC) == parse_datetime(
            "2017-05-06 08:01:05", file="f", field="t", warnings=w
        )
        assert datetime(2023, 5, 1, tzinfo=UTC) == parse_datetime(
            "2023-05-01", file="f", field="t", warnings=w
        )


class TestUpn:
    def test_placeholder_and_blank_are_none(self):
        """Blank and UN1-UN5 mean no UPN."""
        assert parse_upn("", file="f", field="upn") is None
        assert parse_upn("UN2", file="f", field="upn") is None

    def test_bad_upn_keeps_the_census_code(self):
        """A bad UPN is a FileFormatError with the census code."""
        with pytest.raises(FileFormatError) as info:
            parse_upn("A820123424001", file="f", field="upn", row=9)
        assert ("1510", 9) == (info.value.code, info.value.row)


def opener(data: bytes):
    """An opener over bytes in memory."""

    def open_() -> AbstractContextManager[IO[bytes]]:
        return io.BytesIO(data)

    return open_


SPEC = FileSpec(
    name="users.csv",
    required=("sourcedId", "givenName"),
    optional=("preferredGivenName", "grades"),
    known=("password",),
    aliases={"grade": "grades"},
)


def rows(data: bytes, w: Warnings | None = None) -> list[dict[str, str]]:
    """Read rows as dicts of the spec's used columns."""
    f = CsvFile(opener(data), "users.csv", SPEC, w or Warnings())
    return [{c: r.get(c) for c in SPEC.used} | {"#": str(r.number)} for r in f.rows()]


class TestHeaders:
    def test_alias_is_silent_and_case_difference_is_warned(self):
        """An alias maps silently; a header differing only in case maps with a warning."""
        w = Warnings()
        got = rows(b"SourcedId,givenName,grade,password\nu1,Amy,07,x\n", w)
        assert [
            {
                "sourcedId": "u1",
                "givenName": "Amy",
                "preferredGivenName": "",
                "grades": "07",
                "#": "2",
            }
        ] == got
        assert [
            "users.csv, field 'SourcedId': column 'SourcedId' read as 'sourcedId' (letter case differs)"
        ] == w.messages()

    def test_misspelling_is_read_with_did_you_mean(self):
        """prefferedGivenName is read as preferredGivenName, once per file however many passes."""
        w = Warnings()
        data = b"sourcedId,givenName,prefferedGivenName\nu1,Amy,Aims\n"
        assert "Aims" == rows(data, w)[0]["preferredGivenName"]
        rows(data, w)
        assert 1 == len(w.messages())
        assert "did you mean 'preferredGivenName'?" in w.messages()[0]

    def test_missing_required_column_suggests_a_near_header(self):
        """A missing required column names the closest header as a suggestion."""
        with pytest.raises(FileFormatError, match="did you mean 'given_nm'"):
            rows(b"sourcedId,given_nm\nu1,Amy\n")

    def test_duplicate_header(self):
        """A column named twice is an error."""
        with pytest.raises(FileFormatError, match="twice"):
            rows(b"sourcedId,givenName,givenName\n")

    def test_blank_lines_are_skipped_but_counted(self):
        """Blank lines do not make rows, and row numbers stay line numbers."""
        got = rows(b"sourcedId,givenName\n\nu1,Amy\n")
        assert "3" == got[0]["#"]

    def test_trailing_blank_header_cells_and_short_rows(self):
        """Trailing blank header cells are ignored and short rows read as blanks."""
        got = rows(b"sourcedId,givenName,grades,,\r\nu1,Amy\r\n")
        assert ("Amy", "") == (got[0]["givenName"], got[0]["grades"])

    def test_empty_file(self):
        """A file without even a header is an error."""
        with pytest.raises(FileFormatError, match="empty"):
            rows(b"")

    def test_nul_byte_is_a_broken_csv(self):
        """A NUL byte in a CSV is reported as a broken file with its row."""
        with pytest.raises(FileFormatError) as info:
            rows(b"sourcedId,givenName\nu1,A\x00my\n")
        assert 2 == info.value.row


class TestWarnings:
    def test_repeats_are_counted_against_the_first_row(self):
        """Warnings of one kind in one file and field merge into one with a count."""
        w = Warnings()
        for row in (2, 5, 9):
            w.add("f.csv", f"value {row}", row=row, field="d", kind="k")
        assert ["f.csv, row 2, field 'd': value 2 (3 rows like this)"] == w.messages()
        assert 3 == w.details()[0].count
