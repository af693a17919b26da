"""Plain CSV and XLSX exports read with a column mapping."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from schoolsync.errors import FileFormatError
from schoolsync.identifiers import Upn
from schoolsync.people import Gender
from schoolsync.sources import PupilColumns, StaffColumns, TabularSource, read_tabular

PUPIL_COLUMNS = PupilColumns(
    id="Adno",
    forename="Legal Forename",
    surname="Legal Surname",
    upn="UPN",
    preferred_forename="Preferred Forename",
    date_of_birth="DOB",
    gender="Sex",
    year="Year",
    classes="Classes",
)
STAFF_COLUMNS = StaffColumns(
    id="Staff ID",
    forename="Forename",
    surname="Surname",
    title="Title",
    staff_code="Code",
    classes="Classes",
)
PUPILS_CSV = """Adno,Legal Forename,Legal Surname,Preferred Forename,UPN,DOB,Sex,Year,Classes,House
001,Amara,Okafor,Amy,C820123424001,2013-10-02,F,Year 6,6A;6 Maths,Kestrel
002,Zofia,Nowak,,,2019-02-28,F,R,Robins,Owl
"""
STAFF_CSV = """Staff ID,Title,Forename,Surname,Code,Classes
s1,Ms,Jane,Smith,JSM,6A;Robins
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write a text file; return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def xlsx(tmp_path: Path, rows: list[list[object]], sheet: str = "Pupils") -> Path:
    """Write an XLSX workbook with one sheet of rows; return its path."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for r in rows:
        ws.append(r)
    path = tmp_path / "export.xlsx"
    wb.save(path)
    return path


class TestCsv:
    def test_reads_pupils_staff_classes_and_year_groups(self, tmp_path):
        """Mapped columns become fields; class names become classes with their pupils' years."""
        snap = read_tabular(
            school_id="oak",
            pupils=write(tmp_path, "pupils.csv", PUPILS_CSV),
            pupil_columns=PUPIL_COLUMNS,
            staff=write(tmp_path, "staff.csv", STAFF_CSV),
            staff_columns=STAFF_COLUMNS,
        )
        amara = snap.pupils[0]
        assert ("001", "Amara", "Okafor", "Amy") == (
            amara.id,
            amara.forename,
            amara.surname,
            amara.preferred_forename,
        )
        assert (Upn.parse("C820123424001"), date(2013, 10, 2), Gender.FEMALE, "6") == (
            amara.upn,
            amara.date_of_birth,
            amara.gender,
            amara.year_code,
        )
        assert ("oak:class:6A", "oak:class:6 Maths") == amara.class_ids
        assert ("Ms", "JSM", ("oak:class:6A", "oak:class:Robins")) == (
            snap.staff[0].title,
            snap.staff[0].staff_code,
            snap.staff[0].class_ids,
        )
        classes = {c.name: c.year_group_ids for c in snap.classes}
        assert {"6A": ("oak:year:6",), "6 Maths": ("oak:year:6",), "Robins": ("oak:year:R",)} == (
            classes
        )
        assert ["R", "6"] == [y.nc_year for y in snap.year_groups]

    def test_unmapped_columns_are_summarised_in_one_warning(self, tmp_path):
        """Columns the mapping does not name are listed in one warning."""
        snap = read_tabular(
            school_id="oak",
            pupils=write(tmp_path, "pupils.csv", PUPILS_CSV),
            pupil_columns=PUPIL_COLUMNS,
        )
        assert ["pupils.csv: columns not mapped, not read: House"] == list(snap.warnings)

    def test_missing_mapped_column(self, tmp_path):
        """A required mapped column absent from the file names file, row 1 and the column."""
        with pytest.raises(FileFormatError) as info:
            read_tabular(
                school_id="oak",
                pupils=write(tmp_path, "p.csv", PUPILS_CSV.replace("Legal Surname", "Family")),
                pupil_columns=PUPIL_COLUMNS,
            )
        assert ("p.csv", 1, "Legal Surname") == (info.value.file, info.value.row, info.value.field)

    def test_bad_upn_and_duplicate_id(self, tmp_path):
        """A malformed UPN and a repeated id are errors naming the row and column."""
        with pytest.raises(FileFormatError) as info:
            read_tabular(
                school_id="oak",
                pupils=write(tmp_path, "p.csv", PUPILS_CSV.replace("C8201", "A8201")),
                pupil_columns=PUPIL_COLUMNS,
            )
        assert (2, "UPN") == (info.value.row, info.value.field)
        dup = PUPILS_CSV + "001,X,Y,,,,,,,\n"
        with pytest.raises(FileFormatError) as info:
            read_tabular(
                school_id="oak", pupils=write(tmp_path, "d.csv", dup), pupil_columns=PUPIL_COLUMNS
            )
        assert (4, "Adno", "001") == (info.value.row, info.value.field, info.value.value)

    def test_mapping_needs_its_file(self):
        """A file without its mapping (or the reverse) is refused."""
        with pytest.raises(FileFormatError):
            TabularSource(school_id="oak", pupils="p.csv")


class TestXlsx:
    def test_reads_a_sheet_with_real_dates_and_numbers(self, tmp_path):
        """XLSX cells keep their types: dates become dates and whole numbers lose '.0'."""
        path = xlsx(
            tmp_path,
            [
                ["Adno", "Legal Forename", "Legal Surname", "DOB", "Year"],
                [1001, "Amara", "Okafor", datetime(2013, 10, 2), 6],
                [1002, "Zofia", "Nowak", "28/02/2019", "R"],
            ],
        )
        cols = PupilColumns(
            id="Adno",
            forename="Legal Forename",
            surname="Legal Surname",
            date_of_birth="DOB",
            year="Year",
        )
        source = TabularSource(school_id="oak", pupils=path, pupil_columns=cols, sheet="Pupils")
        snap = source.read()
        assert [("1001", date(2013, 10, 2), "6"), ("1002", date(2019, 2, 28), "R")] == [
            (p.id, p.date_of_birth, p.year_code) for p in snap.pupils
        ]
        assert any("d/m/yyyy" in w for w in snap.warnings)

    def test_missing_sheet(self, tmp_path):
        """Asking for a sheet the workbook lacks is an error listing the sheets."""
        path = xlsx(tmp_path, [["Adno", "Legal Forename", "Legal Surname"]])
        cols = PupilColumns(id="Adno", forename="Legal Forename", surname="Legal Surname")
        with pytest.raises(FileFormatError, match="no sheet"):
            read_tabular(school_id="oak", pupils=path, pupil_columns=cols, sheet="Staff")

    def test_broken_xlsx(self, tmp_path):
        """A file named .xlsx that is not a workbook is a FileFormatError."""
        path = tmp_path / "bad.xlsx"
        path.write_bytes(b"PK\x03\x04 not really")
        cols = PupilColumns(id="Adno", forename="F", surname="S")
        with pytest.raises(FileFormatError, match="XLSX"):
            read_tabular(school_id="oak", pupils=path, pupil_columns=cols)


def test_hostile_xml_inside_xlsx_is_refused(tmp_path):
    """An XLSX whose sheet XML declares entities (billion laughs) is refused, not expanded."""
    import zipfile

    path = xlsx(tmp_path, [["Adno", "F", "S"], ["1", "a", "b"]])
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    dtd = '<!DOCTYPE worksheet [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    parts["xl/worksheets/sheet1.xml"] = (dtd + sheet.replace("<t>a</t>", "<t>&b;</t>")).encode()
    evil = tmp_path / "evil.xlsx"
    with zipfile.ZipFile(evil, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    cols = PupilColumns(id="Adno", forename="F", surname="S")
    with pytest.raises(FileFormatError, match="hostile XML refused"):
        read_tabular(school_id="oak", pupils=evil, pupil_columns=cols)


class TestBadCells:
    @pytest.mark.parametrize(
        ("old", "new", "row", "field", "value"),
        [
            ("2019-02-28", "2019-02-30", 3, "DOB", "2019-02-30"),
            ("2019-02-28", "31/02/2019", 3, "DOB", "31/02/2019"),
            ("002,Zofia", "002,", 3, "Legal Forename", None),
            ("002,Zofia", ",Zofia", 3, "Adno", None),
        ],
    )
    def test_csv_error_names_file_row_field(self, tmp_path, old, new, row, field, value):
        """A bad date, a blank name or a blank id names the file, row, column and value."""
        with pytest.raises(FileFormatError) as info:
            read_tabular(
                school_id="oak",
                pupils=write(tmp_path, "p.csv", PUPILS_CSV.replace(old, new)),
                pupil_columns=PUPIL_COLUMNS,
            )
        err = info.value
        assert ("p.csv", row, field, value) == (err.file, err.row, err.field, err.value)

    def test_row_with_too_many_values(self, tmp_path):
        """A row with more values than the header has columns is refused, naming the row."""
        with pytest.raises(FileFormatError) as info:
            read_tabular(
                school_id="oak",
                pupils=write(tmp_path, "p.csv", PUPILS_CSV + "003,A,B,,,,,,,,surplus\n"),
                pupil_columns=PUPIL_COLUMNS,
            )
        assert 4 == info.value.row

    def test_windows_1252_is_read_and_said(self, tmp_path):
        """A Windows-1252 file (Excel's plain "CSV") is read, with a warning naming the
        encoding; bytes no such file holds are refused, naming the file."""
        path = tmp_path / "p.csv"
        path.write_bytes(PUPILS_CSV.replace("Zofia", "Zófia").encode("cp1252"))
        snap = read_tabular(school_id="oak", pupils=path, pupil_columns=PUPIL_COLUMNS)
        assert "Zófia" in [p.forename for p in snap.pupils]
        assert any("read as Windows-1252" in w for w in snap.warnings)
        path.write_bytes(PUPILS_CSV.replace("Zofia", "Z\x81fia").encode("latin-1"))
        with pytest.raises(FileFormatError, match="neither UTF-8 nor Windows-1252") as info:
            read_tabular(school_id="oak", pupils=path, pupil_columns=PUPIL_COLUMNS)
        assert "p.csv" == info.value.file

    def test_byte_order_mark_is_read(self, tmp_path):
        """UTF-8 with a byte-order mark (as Excel saves "CSV UTF-8") reads like plain UTF-8."""
        path = tmp_path / "p.csv"
        path.write_text(PUPILS_CSV, encoding="utf-8-sig")
        snap = read_tabular(school_id="oak", pupils=path, pupil_columns=PUPIL_COLUMNS)
        assert ["001", "002"] == [p.id for p in snap.pupils]

    def test_xlsx_error_names_the_sheet_row(self, tmp_path):
        """In an XLSX, an error names the spreadsheet's own row number (gaps included)."""
        wb = openpyxl.Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(["Adno", "F", "S", "DOB"])
        ws.append([1, "A", "B", datetime(2013, 1, 1)])
        for cell, value in zip(("A6", "B6", "C6", "D6"), (2, "C", "D", "31/02/2013"), strict=True):
            ws[cell] = value
        path = tmp_path / "gap.xlsx"
        wb.save(path)
        cols = PupilColumns(id="Adno", forename="F", surname="S", date_of_birth="DOB")
        with pytest.raises(FileFormatError) as info:
            read_tabular(school_id="oak", pupils=path, pupil_columns=cols)
        assert ("gap.xlsx", 6, "DOB") == (info.value.file, info.value.row, info.value.field)

    @pytest.mark.parametrize("drop", ["xl/worksheets/sheet1.xml", "xl/workbook.xml"])
    def test_xlsx_missing_part_is_refused(self, tmp_path, drop):
        """An XLSX missing its sheet or workbook part is a FileFormatError, not an IndexError or
        KeyError from the spreadsheet library."""
        import zipfile

        path = xlsx(tmp_path, [["Adno", "F", "S"], ["1", "a", "b"]])
        with zipfile.ZipFile(path) as z:
            parts = {n: z.read(n) for n in z.namelist() if n != drop}
        broken = tmp_path / "broken.xlsx"
        with zipfile.ZipFile(broken, "w") as z:
            for name, data in parts.items():
                z.writestr(name, data)
        cols = PupilColumns(id="Adno", forename="F", surname="S")
        with pytest.raises(FileFormatError) as info:
            read_tabular(school_id="oak", pupils=broken, pupil_columns=cols)
        assert "broken.xlsx" == info.value.file


def _with_sheet(tmp_path: Path, sheet_xml: str) -> Path:
    """A valid workbook whose first sheet's XML is replaced by *sheet_xml*; return its path."""
    import zipfile

    path = xlsx(tmp_path, [["Adno", "F", "S"], ["1", "a", "b"]])
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = sheet_xml.encode()
    out = tmp_path / "crafted.xlsx"
    with zipfile.ZipFile(out, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out


def _row(number: int, *cells: tuple[str, str]) -> str:
    inner = "".join(
        f'<c r="{ref}{number}" t="inlineStr"><is><t>{text}</t></is></c>' for ref, text in cells
    )
    return f'<row r="{number}">{inner}</row>'


SHEET = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="A1:XFD1048576"/><sheetData>{rows}</sheetData></worksheet>'
)
COLS = PupilColumns(id="Adno", forename="F", surname="S")


class TestHostileSheets:
    def test_claimed_size_does_not_pad_rows(self, tmp_path):
        """A sheet claiming 16,384 columns and a million rows (a <dimension> bomb) reads only
        the cells it has, quickly; a value far right of the header is warned, not read."""
        rows = _row(1, ("A", "Adno"), ("B", "F"), ("C", "S"))
        rows += _row(2, ("A", "1"), ("B", "Amy"), ("C", "Ng"), ("XFD", "stray"))
        rows += _row(200_000, ("A", "2"), ("B", "Zo"), ("C", "Li"))
        snap = read_tabular(
            school_id="oak",
            pupils=_with_sheet(tmp_path, SHEET.format(rows=rows)),
            pupil_columns=COLS,
        )
        assert ["1", "2"] == [p.id for p in snap.pupils]
        assert ["crafted.xlsx, row 2: values in columns without a header were not read"] == list(
            snap.warnings
        )

    def test_row_beyond_the_worksheet_limit_is_refused(self, tmp_path):
        """A row numbered past Excel's 1,048,576 rows is refused, naming the row."""
        rows = _row(1, ("A", "Adno"), ("B", "F"), ("C", "S")) + _row(1_048_577, ("A", "1"))
        path = _with_sheet(tmp_path, SHEET.format(rows=rows))
        with pytest.raises(FileFormatError, match="more rows") as info:
            read_tabular(school_id="oak", pupils=path, pupil_columns=COLS)
        assert 1_048_577 == info.value.row
