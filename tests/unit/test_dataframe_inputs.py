"""DataFrames in: the tabular MIS reader, the bulk import and the School Upload reader take a
pandas or polars DataFrame where they take a file, through the same header matching, checks
and typed errors, with problems naming the frame's index label (pandas) or position (polars).
pandas and polars stay optional: importing the readers loads neither."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from schoolsync.access.presets import progress_teaching
from schoolsync.bulk import CatalogueChecks, import_users, read_sheet, write_sheet
from schoolsync.errors import FileFormatError, ProblemsError
from schoolsync.ports import MisSnapshot
from schoolsync.sources.school_upload import read_school_upload
from schoolsync.sources.tabular import PupilColumns, StaffColumns, read_tabular
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

COLUMNS = PupilColumns(
    id="Adno",
    forename="Forename",
    surname="Surname",
    upn="UPN",
    date_of_birth="DOB",
    year="Year",
    classes="Reg",
)
PUPILS = {
    "Adno": ["1001", "1002", "1003"],
    "Forename": ["Amara", "Ben", "Zoë"],
    "Surname": ["Okafor", "Cole", "Quintrell"],
    "UPN": ["C820123424001", None, ""],
    "DOB": ["2015-09-14", "14/02/2016", None],
    "Year": ["5", "4", "R"],
    "Reg": ["5A", "4B; Choir", None],
}


def _csv(tmp_path: Path) -> Path:
    header = list(PUPILS)
    rows = [
        ["" if PUPILS[h][i] is None else str(PUPILS[h][i]) for h in header] for i in range(3)
    ]
    return write_sheet(tmp_path / "pupils.csv", header, rows)


def _facts(snapshot: MisSnapshot) -> list[tuple[object, ...]]:
    return [
        (p.id, p.forename, p.surname, p.upn, p.date_of_birth, p.year_code, p.class_ids)
        for p in snapshot.pupils
    ]


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_a_frame_reads_as_the_same_file_would(tmp_path: Path, library: str) -> None:
    """The same cells as a CSV file and as a DataFrame give the same pupils, classes and year
    groups."""
    frame = pd.DataFrame(PUPILS) if library == "pandas" else pl.DataFrame(PUPILS)
    from_file = read_tabular(school_id="oak", pupils=_csv(tmp_path), pupil_columns=COLUMNS)
    from_frame = read_tabular(school_id="oak", pupils=frame, pupil_columns=COLUMNS)
    assert _facts(from_frame) == _facts(from_file)
    assert from_frame.classes == from_file.classes
    assert from_frame.year_groups == from_file.year_groups
    assert from_frame.pupils[0].date_of_birth == date(2015, 9, 14)


def test_typed_frame_values_are_read_as_cells() -> None:
    """Dates typed as datetimes, numbers typed as numbers, NaN and None as blanks."""
    frame = pd.DataFrame(
        {
            "Adno": [1001, 1002],
            "Forename": ["Amara", "Ben"],
            "Surname": ["Okafor", "Cole"],
            "DOB": pd.to_datetime(["2015-09-14", None]),
            "Year": [5.0, float("nan")],
        }
    )
    columns = PupilColumns(
        id="Adno", forename="Forename", surname="Surname", date_of_birth="DOB", year="Year"
    )
    pupils = read_tabular(school_id="oak", pupils=frame, pupil_columns=columns).pupils
    assert [(p.id, p.date_of_birth, p.year_code) for p in pupils] == [
        ("1001", date(2015, 9, 14), "5"),
        ("1002", None, None),
    ]


def test_every_problem_names_the_frames_index_label() -> None:
    """Bad rows are all reported, each by its index label (not a spreadsheet row)."""
    bad = pd.DataFrame(
        {
            "Adno": ["1001", "1002", "1002"],
            "Forename": ["Amara", "", "Cy"],
            "Surname": ["Okafor", "Cole", "Ng"],
            "DOB": ["31/02/2015", "2016-01-01", "2016-01-01"],
        },
        index=[40, 41, 42],
    )
    columns = PupilColumns(id="Adno", forename="Forename", surname="Surname", date_of_birth="DOB")
    with pytest.raises(ProblemsError) as info:
        read_tabular(school_id="oak", pupils=bad, pupil_columns=columns)
    found = sorted((e.row, e.field) for e in info.value.exceptions)  # type: ignore[attr-defined]
    assert found == [(40, "DOB"), (41, "Forename"), (42, "Adno")]
    assert all(e.file == "the pupils DataFrame" for e in info.value.exceptions)  # type: ignore[attr-defined]


def test_a_polars_problem_names_the_position() -> None:
    frame = pl.DataFrame({"Adno": ["1", "2"], "Forename": ["A", "B"], "Surname": ["C", ""]})
    columns = PupilColumns(id="Adno", forename="Forename", surname="Surname")
    with pytest.raises(FileFormatError) as info:
        read_tabular(school_id="oak", pupils=frame, pupil_columns=columns)
    assert (info.value.row, info.value.field) == (1, "Surname")


def test_the_header_is_matched_as_a_files_is() -> None:
    """A near miss is read with a warning, a missing column is an error naming the frame and
    no row (a frame has no header row)."""
    columns = PupilColumns(id="Adno", forename="Forename", surname="Surname")
    near = pd.DataFrame({"Adno": ["1"], "Forname": ["Amara"], "Surname": ["Okafor"]})
    snapshot = read_tabular(school_id="oak", pupils=near, pupil_columns=columns)
    assert snapshot.pupils[0].forename == "Amara"
    assert any("Forname" in w for w in snapshot.warnings)
    missing = pd.DataFrame({"Adno": ["1"], "Given": ["Amara"], "Surname": ["Okafor"]})
    with pytest.raises(FileFormatError) as info:
        read_tabular(school_id="oak", pupils=missing, pupil_columns=columns)
    assert info.value.row is None
    assert str(info.value).startswith("the pupils DataFrame, field 'Forename'")


def test_staff_from_a_frame_and_the_wrong_kind_of_input() -> None:
    staff = pl.DataFrame({"ID": ["s1"], "First": ["Ada"], "Last": ["Lovelace"], "Code": ["ADL"]})
    columns = StaffColumns(id="ID", forename="First", surname="Last", staff_code="Code")
    snapshot = read_tabular(school_id="oak", staff=staff, staff_columns=columns)
    assert [(s.id, s.staff_code) for s in snapshot.staff] == [("s1", "ADL")]
    with pytest.raises(FileFormatError, match="not a dict"):
        read_tabular(school_id="oak", staff={"ID": ["s1"]}, staff_columns=columns)  # type: ignore[arg-type]


NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def test_the_bulk_import_takes_a_frame_and_names_its_rows_by_index() -> None:
    """``import_users(store, trust, frame)`` plans the same changes as a file would, and a
    problem names the frame's index label."""
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t1", name="Northern Lights Trust"))
        uow.schools.add(School(id="s1", name="Oakfield Primary"))
        uow.memberships.add(
            Membership(id="m1", trust_id="t1", school_id="s1", status=MembershipStatus.ACCEPTED)
        )
        uow.commit()
    frame = pd.DataFrame(
        {
            "Email": ["new@oak.example", "not-an-email"],
            "Name": ["New Person", "X"],
            "Oakfield Primary": ["Staff", None],
        },
        index=[7, 8],
    )
    checks = CatalogueChecks(progress_teaching())
    change_set = import_users(store, "t1", frame, checks=checks, at=NOW)
    assert change_set.describe() == "1 create user, 1 add role; 1 problem"
    assert [str(p) for p in change_set.problems] == [
        "row 8, column 'Email': not a valid email address"
    ]
    assert read_sheet(frame).row_number(0) == 7


def test_the_school_upload_reader_takes_a_frame() -> None:
    frame = pd.DataFrame(
        {"School name": ["Oak", "Ash"], "Postcode": ["SW1A 1AA", None], "URN": [100001.0, None]}
    )
    rows = read_school_upload(frame).rows
    assert [(r.row, r.name, r.postcode, r.urn) for r in rows] == [
        (0, "Oak", "SW1A 1AA", "100001"),
        (1, "Ash", "", ""),
    ]


def test_the_readers_import_neither_pandas_nor_polars() -> None:
    """They are extras: reading files never loads them."""
    code = (
        "import sys, schoolsync.sources.tabular, schoolsync.bulk, "
        "schoolsync.sources.school_upload; "
        "print(sorted(m for m in ('pandas', 'polars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
