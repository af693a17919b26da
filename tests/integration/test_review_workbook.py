"""The review workbook: a person can work in it, and its decisions read back checked."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from schoolsync.bulk import write_sheet
from schoolsync.cli import main
from schoolsync.errors import DecisionsError, FileFormatError
from schoolsync.matching import MatchReview, MatchStatus, match_pupils
from schoolsync.people import Pupil
from schoolsync.review import (
    Choice,
    read_review_workbook,
    review_lines,
    write_review_workbook,
)


def pupil(pid: str, forename: str, surname: str, dob: date, upn: str | None = None) -> Pupil:
    from schoolsync.identifiers import Upn

    return Pupil(
        id=pid,
        school_id="s1",
        forename=forename,
        surname=surname,
        date_of_birth=dob,
        upn=None if upn is None else Upn.parse(upn),
        year_code="3",
    )


@pytest.fixture
def review() -> MatchReview[Pupil]:
    mis = [
        pupil("m1", "Chidi", "Okafor", date(2018, 7, 2), "G201200115001"),
        pupil("m2", "Amelia", "Jones", date(2017, 11, 2)),
        pupil("m3", "=cmd", "Taylor", date(2016, 3, 3)),
        pupil("m4", "Isla", "Brown", date(2016, 1, 20)),
    ]
    app = [
        pupil("a1", "Chidi", "Okafo", date(2018, 7, 2), "G201200115001"),
        pupil("a2", "Amelia", "Jones", date(2017, 11, 2)),
        pupil("a9", "Harry", "Wilson", date(2015, 10, 10)),
    ]
    return match_pupils(mis, app)


def headers(sheet: object) -> list[str]:
    return [c.value for c in next(sheet.iter_rows(min_row=1, max_row=1))]  # type: ignore[attr-defined]


def row_of(sheet: object, record_id: str) -> int:
    head = headers(sheet)
    m, a = head.index("MIS id"), head.index("App id")
    for number, row in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=2):  # type: ignore[attr-defined]
        if record_id in (row[m], row[a]):
            return number
    raise AssertionError(record_id)


def edit(path: Path, changes: dict[tuple[str, str], str]) -> None:
    """Set cells the way a person does in a spreadsheet: (record id, column) -> text."""
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Review"]
    head = headers(sheet)
    for (record_id, column), value in changes.items():
        sheet.cell(row=row_of(sheet, record_id), column=head.index(column) + 1, value=value)
    workbook.save(path)


def test_the_workbook_is_one_a_person_can_work_in(
    review: MatchReview[Pupil], tmp_path: Path
) -> None:
    path = write_review_workbook(
        review,
        tmp_path / "review.xlsx",
        sources=["app: app.csv", "MIS: mis.csv"],
        written_at=datetime(2026, 9, 7, 9, 30, tzinfo=UTC),
    )
    assert path is not None
    workbook = openpyxl.load_workbook(path)
    assert ["Summary", "Review"] == workbook.sheetnames
    summary = [
        [c for c in row if c is not None] for row in workbook["Summary"].iter_rows(values_only=True)
    ]
    flat = [" ".join(str(c) for c in row) for row in summary]
    assert "Source files app: app.csv; MIS: mis.csv" in flat
    assert any(line.startswith("Not matched 1 In the app") for line in flat)
    assert any(line.startswith("New 2 ") for line in flat)
    assert any("What to do next" in line for line in flat)
    sheet = workbook["Review"]
    head = headers(sheet)
    assert ["Status", "Decision", "Match to id", "MIS id", "MIS forename"] == head[:5]
    assert "B2" == sheet.freeze_panes[1:] or "D2" == sheet.freeze_panes
    assert sheet.auto_filter.ref.startswith("A1:")
    widths = {col: sheet.column_dimensions[col].width for col in "ABCDEFG"}
    assert all(w >= 10 for w in widths.values()), widths  # "Not match" is not cut off
    validation = sheet.data_validations.dataValidation[0]
    assert "Accept match" in validation.formula1
    assert "Do not import" in validation.formula1
    statuses = [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert ["Not matched", "New", "New", "Matched", "Matched"] == statuses  # review order
    # Colour by status; app values the MIS will overwrite are struck out.
    chidi = row_of(sheet, "m1")
    fills = {sheet.cell(row=r, column=1).fill.fgColor.rgb for r in range(2, 7)}
    assert 3 == len(fills)
    app_surname = sheet.cell(row=chidi, column=head.index("App surname") + 1)
    mis_surname = sheet.cell(row=chidi, column=head.index("MIS surname") + 1)
    assert ("Okafo", True) == (app_surname.value, app_surname.font.strike)
    assert not mis_surname.font.strike
    assert "Surname" == sheet.cell(row=chidi, column=head.index("Will be overwritten") + 1).value
    assert "Same UPN" == sheet.cell(row=chidi, column=head.index("How matched") + 1).value
    assert "02 Jul 2018" == sheet.cell(row=chidi, column=head.index("MIS date of birth") + 1).value
    new_row = row_of(sheet, "m4")
    assert "Import" == sheet.cell(row=new_row, column=2).value
    assert "imported as new" in sheet.cell(row=new_row, column=len(head)).value
    formula = sheet.cell(row=row_of(sheet, "m3"), column=head.index("MIS forename") + 1)
    assert "'=cmd" == formula.value  # shown as text, never run


def test_decisions_read_back_and_make_the_review_and_the_plan(
    review: MatchReview[Pupil], tmp_path: Path
) -> None:
    path = tmp_path / "review.xlsx"
    write_review_workbook(review, path)
    assert () == read_review_workbook(path, review).decisions  # unchanged: nothing decided
    edit(
        path,
        {
            ("m2", "Decision"): "Reject match",
            ("m4", "Match to id"): "a9",
            ("m3", "Decision"): "Do not import",
            ("m1", "Decision"): "accept match",
        },
    )
    made = read_review_workbook(path, review)
    assert {Choice.REJECT: 1, Choice.MATCH: 1, Choice.DO_NOT_IMPORT: 1, Choice.ACCEPT: 1} == {
        c: n for c, n in made.counts().items() if n
    }
    after = made.apply(review)
    assert MatchStatus.NEW is after.result_for(mis="m2").status
    assert "a9" == after.result_for(mis="m4").app_key
    assert not after.is_selected("m3")
    from schoolsync.sync import SchoolRecords, plan
    from schoolsync.trusts import School

    app_pupils = [r.app for r in review if r.app is not None]
    current = SchoolRecords(
        school=School(id="s1", name="Oak"), pupils={p.id: p for p in app_pupils}
    )
    sync = plan(after, current, at=datetime(2026, 9, 7, tzinfo=UTC))
    linked = {c.app_id for c in sync.links}
    assert {"a1", "a9"} == linked
    assert {"m2"} == {c.mis_id for c in sync.creates}  # the unmatched MIS pupil is imported


def test_every_bad_decision_is_reported_with_its_row_and_column(
    review: MatchReview[Pupil], tmp_path: Path
) -> None:
    path = tmp_path / "review.xlsx"
    write_review_workbook(review, path)
    edit(
        path,
        {
            ("m4", "Match to id"): "a404",
            ("m3", "Match to id"): "a9",
            ("a9", "Match to id"): "m4",
            ("m2", "MIS surname"): "Jonas",
            ("m1", "Decision"): "Perhaps",
        },
    )
    sheet = openpyxl.load_workbook(path)["Review"]
    with pytest.raises(DecisionsError) as caught:
        read_review_workbook(path, review)
    text = str(caught.value)
    assert (
        f"review.xlsx, row {row_of(sheet, 'm4')}, field 'Match to id': no app record has this id (value 'a404')"
        in text
    )
    twice = f"row {row_of(sheet, 'm3')}, field 'Match to id': this app record is matched twice"
    assert f"{twice} (also on row {row_of(sheet, 'a9')})" in text
    assert (
        f"row {row_of(sheet, 'm2')}, field 'MIS surname': changed since the workbook was written"
        in text
    )
    assert f"row {row_of(sheet, 'm1')}, field 'Decision': not a decision" in text
    assert "Jonas" not in text
    assert "Amelia" not in text


def test_a_workbook_of_another_review_or_no_workbook_is_refused(
    review: MatchReview[Pupil], tmp_path: Path
) -> None:
    path = tmp_path / "review.xlsx"
    write_review_workbook(review.unmatch(mis="m1"), path)
    with pytest.raises(FileFormatError, match="written from a different review"):
        read_review_workbook(path, review)
    other = write_sheet(tmp_path / "users.xlsx", ["Email"], [["a@b.example"]])
    with pytest.raises(FileFormatError, match="no 'Summary' sheet"):
        read_review_workbook(other, review)
    text = tmp_path / "renamed.xlsx"
    text.write_text("MIS id,Decision\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match="not an Excel workbook"):
        read_review_workbook(text, review)


def test_sorted_rows_and_a_stream_read_back_the_same(
    review: MatchReview[Pupil], tmp_path: Path
) -> None:
    import io

    buffer = io.BytesIO()
    assert write_review_workbook(review, buffer) is None
    path = tmp_path / "review.xlsx"
    path.write_bytes(buffer.getvalue())
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Review"]
    rows = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
    for number, values in enumerate(reversed(rows), start=2):  # a person sorted the sheet
        for column, value in enumerate(values, start=1):
            sheet.cell(row=number, column=column).value = value
    workbook.save(path)
    with path.open("rb") as handle:
        assert () == read_review_workbook(handle, review).decisions
    assert len(review_lines(review)) == len(rows)


def test_the_match_and_decisions_commands_round_trip(tmp_path: Path) -> None:
    header = ["ID", "Forename", "Surname", "Date of birth"]
    app = write_sheet(
        tmp_path / "app.csv",
        header,
        [["a1", "Jon", "Smith", "2015-09-14"], ["a2", "Leaver", "Gone", "2015-01-01"]],
    )
    mis = write_sheet(
        tmp_path / "mis.csv",
        header,
        [["m1", "John", "Smith", "2015-09-14"], ["m2", "New", "Joiner", "2016-02-02"]],
    )
    out = tmp_path / "review.xlsx"
    runner = CliRunner()
    result = runner.invoke(main, ["match", str(app), str(mis), "--out", str(out)])
    assert 0 == result.exit_code, result.output
    edit(out, {("m2", "Match to id"): "a2"})
    result = runner.invoke(main, ["decisions", str(app), str(mis), str(out)])
    assert 0 == result.exit_code, result.output
    assert "Decisions: 1 match to id" in result.output
    assert "link         2" in result.output
    saved = tmp_path / "review.decisions.json"
    assert '"choice": "match"' in saved.read_text(encoding="utf-8")
    edit(out, {("m2", "Match to id"): "a3"})
    result = runner.invoke(
        main, ["decisions", str(app), str(mis), str(out), "--out", str(tmp_path / "d.json")]
    )
    assert 1 == result.exit_code
    assert "field 'Match to id': no app record has this id (value 'a3')" in result.output
    assert not (tmp_path / "d.json").exists()
