"""Each schoolsync reader as ``path -> rows read``, for the hostile-input corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from schoolsync.bulk import read_sheet
from schoolsync.sources import read_ctf, read_oneroster, read_sds, read_sds_classic
from schoolsync.sources.gias import read_gias_links
from schoolsync.sources.school_upload import read_school_upload
from schoolsync.sources.tabular import PupilColumns, read_tabular


def _bulk(path: Path) -> int:
    return len(read_sheet(path).rows)


def _upload(path: Path) -> int:
    return len(read_school_upload(path).rows)


def _tabular(path: Path) -> int:
    columns = PupilColumns(id="Email", forename="School name", surname="URN")
    return len(read_tabular(school_id="oak", pupils=path, pupil_columns=columns).pupils)


def _oneroster(path: Path) -> int:
    return len(read_oneroster(path).pupils)


def _sds(path: Path) -> int:
    return len(read_sds(path).pupils)


def _sds_classic(path: Path) -> int:
    return len(read_sds_classic(path).pupils)


def _gias(path: Path) -> int:
    return len(read_gias_links(path).links)


def _ctf(path: Path) -> int:
    return len(read_ctf(path).pupils)


#: Reader name -> function; the XLSX readers accept ``.xlsx`` files, the rest their own format.
READERS: dict[str, Callable[[Path], int]] = {
    "bulk": _bulk,
    "school_upload": _upload,
    "tabular": _tabular,
    "oneroster": _oneroster,
    "sds": _sds,
    "sds_classic": _sds_classic,
    "gias": _gias,
    "ctf": _ctf,
}

XLSX_READERS = ("bulk", "school_upload", "tabular")
BUNDLE_READERS = ("oneroster", "sds", "sds_classic")
CSV_READERS = ("bulk", "school_upload", "tabular")
