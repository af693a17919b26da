"""Readers of what schools' MIS export: OneRoster CSV bundles, Microsoft SDS CSV, the DfE Common
Transfer File (CTF) and plain CSV/XLSX with a column mapping.

Each reader implements :class:`schoolsync.ports.MisSource` (streams of staff, pupils, classes and
year groups, plus ``warnings()``), and has a ``read_*`` function that reads everything into a
:class:`schoolsync.ports.MisSnapshot` (or raises; a snapshot is never half-read). Every problem
is a :class:`~schoolsync.errors.FileFormatError` naming the file, row (or XML path) and field.
See ``docs/sources.md``.
"""

from typing import TYPE_CHECKING

from schoolsync.sources._bundle import FileMode
from schoolsync.sources._csv import SourceWarning
from schoolsync.sources._roster import Deletion, Enrolment
from schoolsync.sources._years import GradeMapping, nc_year_for_grade, year_group_name
from schoolsync.sources.ctf import CtfHeader, CtfSchool, CtfSource, read_ctf
from schoolsync.sources.oneroster import OneRosterSource, read_oneroster
from schoolsync.sources.sds import SdsClassicSource, SdsSource, read_sds, read_sds_classic
from schoolsync.sources.tabular import PupilColumns, StaffColumns, TabularSource, read_tabular

__all__ = [
    "CtfHeader",
    "CtfSchool",
    "CtfSource",
    "Deletion",
    "Enrolment",
    "FileMode",
    "GradeMapping",
    "OneRosterSource",
    "PupilColumns",
    "SdsClassicSource",
    "SdsSource",
    "SourceWarning",
    "StaffColumns",
    "TabularSource",
    "nc_year_for_grade",
    "read_ctf",
    "read_oneroster",
    "read_sds",
    "read_sds_classic",
    "read_tabular",
    "year_group_name",
]

if TYPE_CHECKING:  # every reader satisfies the MisSource port (checked by mypy --strict)
    from schoolsync.ports import MisSource

    def _readers_are_mis_sources(
        a: OneRosterSource, b: SdsSource, c: SdsClassicSource, d: CtfSource, e: TabularSource
    ) -> list[MisSource]:
        return [a, b, c, d, e]
