"""Real exports in: the files MIS systems and Excel really write (tests/data/exports) are read
the same way by every command and reader, which say what they detected; a data officer can
point a command at their own columns and sheet; every bad row is reported in one run, with
the reason in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from schoolsync.bulk import read_sheet
from schoolsync.cli import main
from schoolsync.errors import FileFormatError, ProblemsError
from schoolsync.sources import PupilColumns, read_tabular
from schoolsync.sources._text import decode_text, detect_csv
from schoolsync.sources.school_upload import read_school_upload

EXPORTS = Path(__file__).parents[1] / "data" / "exports"
SIMS = EXPORTS / "sims-pupil-list-cp1252.csv"
ARBOR = EXPORTS / "arbor-students-utf8bom-semicolon.csv"
UNICODE = EXPORTS / "pupils-unicode-text-utf16.txt"
BAD_ROWS = EXPORTS / "pupils-several-bad-rows.csv"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("path", "described"),
    [
        (SIMS, "Windows-1252, comma-separated, header on row 3"),
        (ARBOR, "UTF-8 with a byte-order mark, semicolon-separated"),
        (UNICODE, "UTF-16 with a byte-order mark, tab-separated"),
    ],
)
def test_the_shared_detection_says_what_it_found(path: Path, described: str) -> None:
    """Encoding, delimiter and header row (below title rows) from the file alone."""
    layout = detect_csv(lambda: path.open("rb"), path.name, expected=["Adno", "Student ID"])
    assert described == layout.describe()
    text, same = decode_text(path.read_bytes(), path.name, expected=["Adno", "Student ID"])
    assert layout == same
    assert "O'Brien" in text


@pytest.mark.parametrize("path", [SIMS, ARBOR, UNICODE])
def test_match_reads_each_real_export(tmp_path: Path, path: Path) -> None:
    """`match` reads SIMS (Windows-1252, title rows, Adno/Reg), Arbor (BOM, semicolons,
    "Student ID") and Excel's Unicode Text, saying how it read each file."""
    out = tmp_path / "review.xlsx"
    code, stdout, stderr = run("match", str(path), str(path), "--out", str(out))
    assert 0 == code, stdout + stderr
    assert "Matched      3" in stdout or "Matched      2" in stdout
    layout = detect_csv(lambda: path.open("rb"), path.name).describe()
    assert f"Read {path.name} ({layout.split(', header')[0]}" in stdout
    assert out.exists()


def test_sims_names_classes_and_title_rows_are_read(tmp_path: Path) -> None:
    """The SIMS list's accents survive Windows-1252, `Reg` is the class and `Adno` the id,
    and the skipped title rows are a warning naming the header's row."""
    code, stdout, stderr = run("match", str(SIMS), str(SIMS), "--out", str(tmp_path / "r.xlsx"))
    assert 0 == code, stdout + stderr
    assert "the header is on row 3; the row(s) above it were read as titles" in stderr
    assert "read as Windows-1252 text (not UTF-8)" in stderr
    columns = PupilColumns(id="Adno", forename="Forename", surname="Surname", classes="Reg")
    snap = read_tabular(school_id="oak", pupils=SIMS, pupil_columns=columns)
    assert ["Siobhán", "Zoë", "An"] == [p.forename for p in snap.pupils]
    assert ["001234", "001235", "001236"] == [p.mis_id for p in snap.pupils]
    assert {"4B", "5C"} == {c.name for c in snap.classes}


def test_every_command_reads_a_bom_semicolon_file_with_title_rows(tmp_path: Path) -> None:
    """The same odd file (BOM, semicolons, a title row) is read by `check-upload`, the bulk
    reader and the School Upload reader alike."""
    upload = tmp_path / "schools.csv"
    upload.write_bytes(
        "Schools joining the trust;;\nSchool name;Postcode;URN\nOakfield Primary;LS1 4AP;140001\n".encode(
            "utf-8-sig"
        )
    )
    code, stdout, stderr = run("check-upload", str(upload))
    assert 0 == code, stdout + stderr
    assert "read as UTF-8 with a byte-order mark, semicolon-separated, header on row 2" in stdout
    assert [("Oakfield Primary", "140001")] == [
        (r.name, r.urn) for r in read_school_upload(upload).rows
    ]
    bulk = tmp_path / "users.csv"
    bulk.write_bytes("Users;\nEmail;Name\nann@oak.example;Ann Lée\n".encode("utf-8-sig"))
    sheet = read_sheet(bulk)
    assert ("Email", "Name") == sheet.header
    assert [("ann@oak.example", "Ann Lée")] == list(sheet.rows)


def test_a_gias_extract_is_a_school_upload(tmp_path: Path) -> None:
    """A GIAS extract (Windows-1252, `EstablishmentName`) is read by the School Upload reader."""
    gias = tmp_path / "edubasealldata.csv"
    gias.write_bytes(
        b"URN,LA (code),EstablishmentNumber,EstablishmentName,Postcode\r\n"
        b"100000,201,6005,The Aldgate School,EC3A 5DE\r\n"
        b"100001,201,6007,St Mary\x92s Infant School,N1 1AA\r\n"
    )
    rows = read_school_upload(gias).rows
    assert ["The Aldgate School", "St Mary’s Infant School"] == [r.name for r in rows]


def test_every_bad_row_is_reported_in_one_run_with_its_reason(tmp_path: Path) -> None:
    """Four bad rows, five problems: all listed, each saying why; nothing is written."""
    out = tmp_path / "r.xlsx"
    code, stdout, stderr = run("match", str(BAD_ROWS), str(SIMS), "--out", str(out))
    assert 1 == code
    assert not out.exists()
    assert "'31/02/2019' is not a date (February has no 31st)" in stdout
    assert "row 3, field 'Surname': a name is required" in stdout
    assert "row 4, field 'UPN'" in stdout
    assert "'29/02/2019' is not a date (2019 is not a leap year, so February has no 29th)" in stdout
    assert "'2019-04-31' is not a date (April has no 31st)" in stdout
    assert "Error: 5 problem(s) in the files; nothing was written" in stderr
    columns = PupilColumns(
        id="Adno", forename="Forename", surname="Surname", upn="UPN", date_of_birth="DOB"
    )
    with pytest.raises(ProblemsError) as raised:
        read_tabular(school_id="oak", pupils=BAD_ROWS, pupil_columns=columns)
    assert 5 == len(raised.value.exceptions)
    assert all(isinstance(e, FileFormatError) for e in raised.value.exceptions)
    assert [2, 3, 4, 4, 5] == [e.row for e in raised.value.exceptions]  # type: ignore[attr-defined]


def test_a_missing_column_lists_the_files_headers_and_nearest_matches(tmp_path: Path) -> None:
    """Headers nothing recognises: the error shows them with the nearest match and the
    option to name them; --column and a --columns file then read the file."""
    odd = tmp_path / "odd.csv"
    odd.write_text("Pupil Ref,First,Family\nP1,Ann,Lee\nP2,Ben,Cole\n")
    code, stdout, stderr = run("match", str(odd), str(odd), "--out", str(tmp_path / "r.xlsx"))
    assert 1 == code
    assert "the file's headers are 'Pupil Ref', 'First', 'Family'" in stderr
    assert '--column id="Pupil Ref"?' in stderr
    assert '--column surname="Family"?' in stderr
    args = ["match", str(odd), str(odd), "--out", str(tmp_path / "r.xlsx")]
    code, stdout, stderr = run(
        *args,
        "--column",
        "id=Pupil Ref",
        "--column",
        "forename=First",
        "--column",
        "surname=Family",
    )
    assert 0 == code, stdout + stderr
    mapping = tmp_path / "columns.toml"
    mapping.write_text('id = "Pupil Ref"\nforename = "First"\nsurname = "Family"\n')
    code, stdout, stderr = run(*args, "--columns", str(mapping))
    assert 0 == code, stdout + stderr
    assert "Matched      2" in stdout
    code, _, stderr = run(*args, "--column", "shoe_size=Size")
    assert 2 == code
    assert "--column shoe_size: not a field" in stderr


def test_a_cover_sheet_is_passed_over_and_sheets_are_named(tmp_path: Path) -> None:
    """A workbook whose first sheet is a cover page: the sheet with the columns is read (and
    named); --sheet picks one; a sheet without the columns names the other sheets."""
    book = openpyxl.Workbook()
    cover = book.active
    assert cover is not None
    cover.title = "Cover"
    cover.append(["Pupil export for Oakfield Primary"])
    pupils = book.create_sheet("Pupils")
    pupils.append(["Student ID", "First Name", "Last Name", "Registration Form"])
    pupils.append(["A1", "Ann", "Lee", "4B"])
    path = tmp_path / "arbor.xlsx"
    book.save(path)
    code, stdout, stderr = run("match", str(path), str(path), "--out", str(tmp_path / "r.xlsx"))
    assert 0 == code, stdout + stderr
    assert "Read arbor.xlsx (sheet 'Pupils'): 1 pupils" in stdout
    code, stdout, stderr = run(
        "match", str(path), str(path), "--sheet", "Cover", "--out", str(tmp_path / "r.xlsx")
    )
    assert 1 == code
    assert "on sheet 'Cover'" in stderr
    assert "other sheets: 'Pupils' (use --sheet)" in stderr
    code, _, stderr = run(
        "match", str(path), str(path), "--sheet", "Nope", "--out", str(tmp_path / "r.xlsx")
    )
    assert 1 == code
    assert "no sheet named 'Nope'; the workbook's sheets are 'Cover', 'Pupils'" in stderr


def test_a_copy_of_the_regression_files_stays_byte_exact(tmp_path: Path) -> None:
    """The export files are bytes as the MIS wrote them (an editor re-saving one would hide
    the case it reproduces): Windows-1252 and UTF-16 files do not decode as UTF-8."""
    for path in (SIMS, UNICODE):
        copy = shutil.copy(path, tmp_path / path.name)
        with pytest.raises(UnicodeDecodeError):
            Path(copy).read_bytes().decode("utf-8")
    assert ARBOR.read_bytes().startswith(b"\xef\xbb\xbf")
