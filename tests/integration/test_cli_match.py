"""`schoolsync match`: two exports in, a review workbook out (one sheet per status)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from click.testing import CliRunner

from schoolsync.bulk import write_sheet
from schoolsync.cli import main

HEADER = ["ID", "Forename", "Surname", "Date of birth", "Gender", "UPN"]
MIS = [
    ["m1", "Oliver", "Smith", "2015-09-14", "M", "G201200115001"],
    ["m2", "Amelia", "Jones", "2015-11-02", "F", ""],
    ["m3", "Isla", "Brown", "2016-01-20", "F", ""],
    ["m4", "=cmd", "Taylor", "2016-03-03", "M", ""],
]
APP = [
    ["a1", "Oliver", "Smith", "2015-09-14", "M", "G201200115001"],
    ["a2", "Amelia", "Jones", "2015-11-02", "F", ""],
    ["a9", "Harry", "Wilson", "2015-10-10", "M", ""],
]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_match_writes_one_sheet_per_status_with_breakdowns(tmp_path: Path) -> None:
    """Matched pairs carry their score and per-field breakdown; statuses are in review order."""
    mis = tmp_path / "mis.csv"  # written raw, as an MIS would: "=cmd" is not neutralised
    mis.write_text("\n".join(",".join(r) for r in [HEADER, *MIS]) + "\n", encoding="utf-8")
    app = write_sheet(tmp_path / "app.xlsx", HEADER, APP)
    out = tmp_path / "review.xlsx"
    code, output = run("match", str(app), str(mis), "--out", str(out))
    assert 0 == code, output
    assert "Matched 4 MIS pupils with 3 app pupils" in output
    workbook = openpyxl.load_workbook(out)
    assert ["Summary", "Not matched", "New", "May match", "Matched"] == workbook.sheetnames
    summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(min_row=2, values_only=True)}
    assert {"Not matched": 1, "New": 2, "May match": 0, "Matched": 2} == summary
    matched = list(workbook["Matched"].iter_rows(values_only=True))
    header = matched[0]
    assert ("Score", "Rule", "MIS id", "MIS name") == header[:4]
    assert "surname" in header
    assert "forename" in header
    assert {"m1", "m2"} == {row[2] for row in matched[1:]}
    new_names = {row[3] for row in workbook["New"].iter_rows(min_row=2, values_only=True)}
    assert "'=cmd Taylor" in new_names  # neutralised: the spreadsheet shows text, runs nothing


def test_staff_kind_and_unrecognised_columns(tmp_path: Path) -> None:
    """--kind staff matches staff; a file without recognisable name columns is an error."""
    header = ["Staff ID", "First name", "Last name", "Email"]
    rows = [["s1", "Ann", "Lee", "ann.lee@school.example"]]
    mis = write_sheet(tmp_path / "mis.csv", header, rows)
    app = write_sheet(tmp_path / "app.csv", header, rows)
    code, output = run(
        "match", str(app), str(mis), "--kind", "staff", "--out", str(tmp_path / "r.xlsx")
    )
    assert 0 == code, output
    assert "Matched      1" in output

    odd = write_sheet(tmp_path / "odd.csv", ["Who", "When"], [["x", "y"]])
    code, output = run("match", str(odd), str(mis), "--out", str(tmp_path / "r.xlsx"))
    assert 1 == code
    assert "odd.csv, row 1: cannot find the column(s) for id, forename, surname" in output
    assert "Traceback" not in output
