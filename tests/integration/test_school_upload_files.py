"""Reading School Upload spreadsheets (XLSX and CSV) and adding their schools to a trust."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.clock import FixedClock
from schoolsync.errors import FileFormatError, ProblemsError
from schoolsync.identifiers import Urn
from schoolsync.sources.school_upload import read_school_upload, write_school_upload
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import School

ROWS = [
    ("Oakfield Primary", "SW1A 1AA", "100001"),
    ("British School of Rome", "00186", ""),
    ("Elm Academy", "m1 1ae", "100002"),
]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_round_trip_of_a_written_sheet(tmp_path: Path, suffix: str) -> None:
    """A sheet written by write_school_upload reads back row by row, with sheet row numbers."""
    path = write_school_upload(tmp_path / f"upload{suffix}", ROWS)

    sheet = read_school_upload(path)

    assert f"upload{suffix}" == sheet.file
    assert [(2, *ROWS[0]), (3, *ROWS[1]), (4, *ROWS[2])] == [
        (r.row, r.name, r.postcode, r.urn) for r in sheet.rows
    ]


def test_xlsx_with_title_rows_numbers_and_extra_columns(tmp_path: Path) -> None:
    """The header may sit under a title; URNs typed as numbers read as text; blank rows skip."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["MAT / School Group - School Upload"])
    ws.append([])
    ws.append(["Notes", "URN", "School Name", "Post code"])
    ws.append(["first", 100001, "Oakfield Primary", "SW1A 1AA"])
    ws.append([None, None, None, None])
    ws.append(["", 100002.0, "Elm Academy", "M1 1AE"])
    wb.save(tmp_path / "template.xlsx")

    sheet = read_school_upload(tmp_path / "template.xlsx")

    assert [(4, "100001"), (6, "100002")] == [(r.row, r.urn) for r in sheet.rows]


def test_cp1252_csv_is_read(tmp_path: Path) -> None:
    """A CSV saved by Excel in Windows-1252 keeps its accented names."""
    path = tmp_path / "upload.csv"
    path.write_bytes("School name,Postcode,URN\r\nÉcole Française,00186,\r\n".encode("cp1252"))

    [row] = read_school_upload(path).rows

    assert "École Française" == row.name


def test_missing_header_is_a_file_format_error(tmp_path: Path) -> None:
    """A file without the three columns is refused, naming the file."""
    path = tmp_path / "wrong.csv"
    path.write_text("Name,Town\nOak,Leeds\n", encoding="utf-8")

    with pytest.raises(FileFormatError) as info:
        read_school_upload(path)
    assert "wrong.csv" == info.value.file


def test_a_broken_xlsx_is_a_file_format_error(tmp_path: Path) -> None:
    """A file named .xlsx that is not a workbook is refused, naming the file."""
    path = tmp_path / "upload.xlsx"
    path.write_bytes(b"not a workbook")

    with pytest.raises(FileFormatError) as info:
        read_school_upload(path)

    assert ("upload.xlsx", "unreadable") == (info.value.file, info.value.code)


def test_unsupported_file_type_is_refused(tmp_path: Path) -> None:
    """Only .xlsx and .csv are read."""
    path = tmp_path / "upload.ods"
    path.write_bytes(b"")

    with pytest.raises(FileFormatError):
        read_school_upload(path)


BAD_ROWS = [
    *ROWS,  # rows 2-4 are valid
    ("", "SW1A 2AA", "100003"),  # row 5: no name
    ("Ash Primary", "ZZ", "10004"),  # row 6: bad postcode and a five-digit URN
    ("Beech Primary", "LS1 1UR", "100001"),  # row 7: URN already on row 2
    ("Birch Primary", "B1 1BB", ""),  # row 8: a UK school without a URN
    ("Cedar Academy", "CF10 1AA", "100009"),  # row 9: already in another trust
]
EXPECTED = [
    (5, "name", None, "school name is missing"),
    (6, "urn", "10004", "URN must be six digits"),
    (6, "postcode", "ZZ", "not a valid UK postcode"),
    (7, "urn", "100001", "duplicate URN (also on row 2)"),
    (8, "urn", None, "URN is missing"),
    (9, "urn", "100009", "this school is already in another trust"),
]


def _lifecycle_with_cedar_in_another_trust() -> tuple[TrustLifecycle, MemoryStore, str]:
    """A store where Cedar Academy (URN 100009) is an accepted member of another trust."""
    store = MemoryStore()
    life = TrustLifecycle(store, FixedClock(), RecordingNotifier())
    other = life.create_trust(name="Other Trust", trust_id="other")
    with store.unit_of_work() as uow:
        uow.accounts.add(
            Account(id="ac", trust_id=other.id, email="", name="", status=AccountStatus.ACTIVE)
        )
        uow.assignments.add(
            RoleAssignment(
                id="ra",
                account_id="ac",
                trust_id=other.id,
                role="access_coordinator",
                school_id="c",
            )
        )
        uow.commit()
    cedar = School(id="c", name="Cedar Academy", urn=Urn("100009"))
    membership = life.add_school(other.id, cedar)
    life.send_invitation(membership.id)
    life.accept_invitation(membership.id, actor_id="ac")
    trust = life.create_trust(name="Oak Trust", trust_id="oak")
    return life, store, trust.id


def _counts(store: MemoryStore) -> tuple[int, int, int]:
    with store.unit_of_work() as uow:
        return uow.schools.count(), uow.memberships.count(), len(uow.audit.events())


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_bad_file_reports_every_row_at_once_and_creates_nothing(
    tmp_path: Path, suffix: str
) -> None:
    """Every bad row of an XLSX or CSV upload is reported in one error, each problem naming the
    file, the sheet row, the column, the value and the reason; nothing is created. Accepting the
    valid rows explicitly adds just those, and the school of another trust stays where it is."""
    path = write_school_upload(tmp_path / f"upload{suffix}", BAD_ROWS)
    life, store, trust_id = _lifecycle_with_cedar_in_another_trust()
    sheet = read_school_upload(path)
    before = _counts(store)

    with pytest.raises(ProblemsError) as info:
        life.add_schools_from_upload(trust_id, sheet.rows, file=sheet.file)

    problems = info.value.exceptions
    assert all(isinstance(p, FileFormatError) for p in problems)
    assert EXPECTED == [
        (p.row, p.field, p.value, p.reason[: len(reason)])
        for p, (_, _, _, reason) in zip(problems, EXPECTED, strict=True)
    ]
    assert {f"upload{suffix}"} == {p.file for p in problems}
    assert before == _counts(store)

    result = life.add_schools_from_upload(
        trust_id, sheet.rows, file=sheet.file, accept_valid_rows=True
    )

    assert ["Oakfield Primary", "British School of Rome", "Elm Academy"] == [
        s.name for s in result.schools
    ]
    assert [5, 6, 6, 7, 8, 9] == [p.row for p in result.plan.problems]
    with store.unit_of_work() as uow:
        assert {"other"} == {m.trust_id for m in uow.memberships.list(school_id="c")}
