"""Every XLSX reader (bulk users, School Upload) is safe against a hostile sheet: a claimed size of
16,384 columns by a million rows reads only the cells the sheet has, quickly, and a row beyond
Excel's limit is a FileFormatError naming the file and row."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from schoolsync.bulk import read_sheet
from schoolsync.errors import FileFormatError
from schoolsync.sources.school_upload import read_school_upload

SHEET = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="A1:XFD1048576"/><sheetData>{rows}</sheetData></worksheet>'
)


def _row(number: int, *cells: tuple[str, str]) -> str:
    inner = "".join(
        f'<c r="{ref}{number}" t="inlineStr"><is><t>{text}</t></is></c>' for ref, text in cells
    )
    return f'<row r="{number}">{inner}</row>'


def _crafted(tmp_path: Path, rows: str) -> Path:
    """A real workbook whose first sheet part is replaced by *rows* under a hostile dimension."""
    book = openpyxl.Workbook()
    book.active.append(["x"])  # type: ignore[union-attr]
    plain = tmp_path / "plain.xlsx"
    book.save(plain)
    with zipfile.ZipFile(plain) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = SHEET.format(rows=rows).encode()
    out = tmp_path / "crafted.xlsx"
    with zipfile.ZipFile(out, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out


def test_bulk_sheet_reads_only_real_cells(tmp_path: Path) -> None:
    """The bulk reader's rows are as wide as their cells, not as the claimed dimension."""
    rows = _row(1, ("A", "Email"), ("B", "Name")) + _row(2, ("A", "a@oak.example"), ("B", "Amy"))
    sheet = read_sheet(_crafted(tmp_path, rows))
    assert [["a@oak.example", "Amy"]] == [list(r) for r in sheet.rows]


def test_school_upload_reads_only_real_cells(tmp_path: Path) -> None:
    """The School Upload reader ignores the claimed dimension and reads the one school."""
    rows = _row(1, ("A", "Name"), ("B", "Postcode"), ("C", "URN"))
    rows += _row(2, ("A", "Oakfield Primary"), ("B", "SW1A 1AA"), ("C", "100001"))
    upload = read_school_upload(_crafted(tmp_path, rows))
    assert [(2, "Oakfield Primary", "100001")] == [(r.row, r.name, r.urn) for r in upload.rows]


@pytest.mark.parametrize("reader", [read_sheet, read_school_upload], ids=["bulk", "upload"])
def test_row_beyond_the_worksheet_limit_is_refused(tmp_path: Path, reader: object) -> None:
    """A row numbered past 1,048,576 is refused with the file and row named."""
    rows = _row(1, ("A", "Email"), ("B", "Name")) + _row(1_048_577, ("A", "x"))
    with pytest.raises(FileFormatError, match="more rows") as info:
        reader(_crafted(tmp_path, rows))  # type: ignore[operator]
    assert "crafted.xlsx" in str(info.value)
