"""`schoolsync match`: two exports in, a review workbook out (one sheet per status)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
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
    assert ["Summary", "Review"] == workbook.sheetnames
    summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True)}
    assert {"Not matched": 1, "New": 2, "May match": 0, "Matched": 2}.items() <= summary.items()
    rows = list(workbook["Review"].iter_rows(values_only=True))
    header = rows[0]
    assert ("Status", "Decision", "Match to id", "MIS id", "MIS forename") == header[:5]
    assert {"How matched", "Score", "Evidence", "Will be overwritten"} <= set(header)
    status, mis_id, evidence = 0, header.index("MIS id"), header.index("Evidence")
    matched = [r for r in rows[1:] if r[status] == "Matched"]
    assert {"m1", "m2"} == {r[mis_id] for r in matched}
    assert all("surname" in r[evidence] for r in matched)  # per-field evidence, in words
    new_names = {r[header.index("MIS forename")] for r in rows[1:] if r[status] == "New"}
    assert "'=cmd" in new_names  # neutralised: the spreadsheet shows text, runs nothing


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


CTF = Path(__file__).parents[1] / "data" / "ctf" / "8201234_CTF_3802093_001.xml"
ONEROSTER = (
    Path(__file__).parents[2].parent
    / "shared"
    / "fixtures"
    / "oneroster-csv-oat-sa"
    / "OneRosterv1p1BaseCSV"
)


def test_a_ctf_against_an_app_csv(tmp_path: Path) -> None:
    """A CTF (.xml) is read as the MIS side; its pupils match the app's copies by UPN."""
    from schoolsync.sources import read_ctf

    pupils = read_ctf(CTF).pupils
    app = write_sheet(
        tmp_path / "app.csv",
        HEADER,
        [
            [f"a{n}", p.forename, p.surname, str(p.date_of_birth), p.gender.value, str(p.upn)]
            for n, p in enumerate(pupils[:2])
        ],
    )
    code, output = run("match", str(app), str(CTF), "--out", str(tmp_path / "r.xlsx"))
    assert 0 == code, output
    assert f"Matched {len(pupils)} MIS pupils with 2 app pupils" in output
    assert "Matched      2" in output


@pytest.mark.skipif(
    not ONEROSTER.is_dir(),
    reason="the shared fixtures folder (../shared/fixtures beside the clone) is absent",
)
def test_a_oneroster_bundle_needs_org_when_it_holds_several_schools(tmp_path: Path) -> None:
    """Without --org a two-school bundle is a one-line error; with it, the bundle matches itself."""
    code, output = run("match", str(ONEROSTER), str(ONEROSTER), "--out", str(tmp_path / "r.xlsx"))
    assert 1 == code
    assert "holds 2 schools" in output
    code, output = run(
        "match", str(ONEROSTER), str(ONEROSTER), "--org", "12345", "--out", str(tmp_path / "r.xlsx")
    )
    assert 0 == code, output
    assert "Not matched  0" in output
    assert "New          0" in output
