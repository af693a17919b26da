"""`schoolsync check-upload`: every problem of a School Upload sheet, exit 1 if any."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from schoolsync.cli import main
from schoolsync.sources.school_upload import write_school_upload


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_a_valid_sheet_passes(tmp_path: Path) -> None:
    """A sheet of valid rows reports no problems and exits 0."""
    path = write_school_upload(
        tmp_path / "schools.xlsx",
        [("Oakfield Primary", "LS1 4AP", "140001"), ("British School of Paris", "", "")],
    )
    code, output = run("check-upload", str(path))
    assert 0 == code, output
    assert "schools.xlsx: 2 row(s); 2 valid (2 new school(s)" in output
    assert "No problems found." in output


def test_every_problem_is_listed_with_row_and_column(tmp_path: Path) -> None:
    """Bad URN, missing name and duplicate URN are each listed; the exit status is 1."""
    path = write_school_upload(
        tmp_path / "schools.csv",
        [
            ("Oakfield Primary", "LS1 4AP", "14001"),
            ("", "HX1 1AA", "140002"),
            ("Riverside", "BD1 1AA", "140002"),
        ],
    )
    code, output = run("check-upload", str(path))
    assert 1 == code
    assert "schools.csv, row 2, field 'urn': URN must be six digits" in output
    assert "schools.csv, row 3, field 'name': school name is missing" in output
    assert "schools.csv, row 4, field 'urn': duplicate URN (also on row 3)" in output
    assert "Error: schools.csv has 3 problem(s)" in output


def test_unreadable_file_is_a_one_line_error(tmp_path: Path) -> None:
    """A file with no School Upload header is reported in one line, without a traceback."""
    path = tmp_path / "notes.csv"
    path.write_text("hello,world\n1,2\n")
    code, output = run("check-upload", str(path))
    assert 1 == code
    assert output.startswith("Error: notes.csv")
    assert 1 == len(output.strip().splitlines())
