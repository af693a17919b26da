"""Reading School Upload spreadsheets (XLSX and CSV) and adding their schools to a trust."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.clock import FixedClock
from schoolsync.errors import FileFormatError, ProblemsError
from schoolsync.sources.school_upload import read_school_upload, write_school_upload
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier

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


def test_unsupported_file_type_is_refused(tmp_path: Path) -> None:
    """Only .xlsx and .csv are read."""
    path = tmp_path / "upload.ods"
    path.write_bytes(b"")

    with pytest.raises(FileFormatError):
        read_school_upload(path)


def test_bad_file_creates_nothing_and_reports_every_row(tmp_path: Path) -> None:
    """Uploading a sheet with bad rows changes nothing; each bad row is named."""
    path = write_school_upload(
        tmp_path / "upload.xlsx",
        [*ROWS, ("", "SW1A 1AA", "100003"), ("Ash", "ZZ", "100001")],
    )
    store = MemoryStore()
    life = TrustLifecycle(store, FixedClock(), RecordingNotifier())
    trust = life.create_trust(name="Oak Trust")
    sheet = read_school_upload(path)

    with pytest.raises(ProblemsError) as info:
        life.add_schools_from_upload(trust.id, sheet.rows, file=sheet.file)

    assert [5, 6, 6] == [e.row for e in info.value.exceptions]  # type: ignore[attr-defined]
    with store.unit_of_work() as uow:
        assert (0, 0) == (uow.schools.count(), uow.memberships.count())
    result = life.add_schools_from_upload(
        trust.id, sheet.rows, file=sheet.file, accept_valid_rows=True
    )
    assert 3 == len(result.memberships)
