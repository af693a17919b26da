"""Each schoolsync reader as ``path -> rows read``, for the hostile-input corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from schoolsync.bulk import read_sheet
from schoolsync.sources.school_upload import read_school_upload
from schoolsync.sources.tabular import PupilColumns, read_tabular


def _bulk(path: Path) -> int:
    return len(read_sheet(path).rows)


def _upload(path: Path) -> int:
    return len(read_school_upload(path).rows)


def _tabular(path: Path) -> int:
    columns = PupilColumns(id="Email", forename="School name", surname="URN")
    return len(read_tabular(school_id="oak", pupils=path, pupil_columns=columns).pupils)


#: Reader name -> function; the XLSX readers accept ``.xlsx`` files, the rest their own format.
READERS: dict[str, Callable[[Path], int]] = {
    "bulk": _bulk,
    "school_upload": _upload,
    "tabular": _tabular,
}

XLSX_READERS = ("bulk", "school_upload", "tabular")
