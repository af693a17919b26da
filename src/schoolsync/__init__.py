"""schoolsync: a correct, fast, well-tested core for software used by school groups.

The names here are the entry points a host app needs; each capability lives in its own
module, with the rest of its names:

- ``schoolsync.identifiers`` and ``schoolsync.calendar``: UK identifiers, academic years, year
  groups, cohorts and rollover (pure).
- ``schoolsync.records``: the plain records (trusts, schools, accounts, people, sync records,
  audit events) and the table registry.
- ``schoolsync.access``: role catalogues, assignments, activation, :class:`AccessIndex` and
  explainable :class:`Decision` values; ``schoolsync.access.presets`` for five real products.
- ``schoolsync.trusts``, ``schoolsync.access.lifecycle`` and ``schoolsync.views``: trusts, school
  membership, school-to-trust grants and trust-wide views.
- ``schoolsync.matching``: MIS-to-app record matching and the :class:`MatchReview`.
- ``schoolsync.sync``: sync plans, atomic apply with backups, undo, nightly and new-year sync.
- ``schoolsync.bulk``: users to CSV/XLSX and back as a previewed :class:`ChangeSet`.
- ``schoolsync.sources``: OneRoster, Microsoft SDS, DfE CTF and mapped CSV/XLSX readers.
- ``schoolsync.storage``: :class:`SqliteStore` (embedded default) and :class:`PostgresStore`.
- ``schoolsync.errors``: the exception tree under :class:`SchoolsyncError`.
- ``schoolsync.testing``: the in-memory store (``MemoryStore``), fakes, builders and strategies
  for your tests (test doubles live there, not here).

Importing ``schoolsync`` loads nothing else; each name loads its module on first use (PEP 562).

The library logs through :mod:`logging` under the ``schoolsync`` logger (ids and counts, never
names, emails or birth dates), with a :class:`logging.NullHandler`: a host sees what a read or
a sync did by configuring logging; ``schoolsync -v`` shows it on the command line.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from schoolsync import _lazy

if TYPE_CHECKING:  # the names of _EXPORTS again, for type checkers (a test keeps them equal)
    from schoolsync.access import AccessAdmin as AccessAdmin
    from schoolsync.access import AccessIndex as AccessIndex
    from schoolsync.access import Decision as Decision
    from schoolsync.access import RoleCatalogue as RoleCatalogue
    from schoolsync.access.lifecycle import TrustLifecycle as TrustLifecycle
    from schoolsync.bulk import ChangeSet as ChangeSet
    from schoolsync.bulk import apply_change_set as apply_change_set
    from schoolsync.bulk import export_users as export_users
    from schoolsync.bulk import import_users as import_users
    from schoolsync.calendar import AcademicYear as AcademicYear
    from schoolsync.calendar import year_group_for as year_group_for
    from schoolsync.clock import SystemClock as SystemClock
    from schoolsync.errors import SchoolsyncError as SchoolsyncError
    from schoolsync.identifiers import Laestab as Laestab
    from schoolsync.identifiers import Postcode as Postcode
    from schoolsync.identifiers import Uln as Uln
    from schoolsync.identifiers import Upn as Upn
    from schoolsync.identifiers import Urn as Urn
    from schoolsync.matching import MatchReview as MatchReview
    from schoolsync.matching import MatchSettings as MatchSettings
    from schoolsync.matching import MatchStatus as MatchStatus
    from schoolsync.matching import match_classes as match_classes
    from schoolsync.matching import match_pupils as match_pupils
    from schoolsync.matching import match_staff as match_staff
    from schoolsync.matching import match_year_groups as match_year_groups
    from schoolsync.records import Account as Account
    from schoolsync.records import AuditAction as AuditAction
    from schoolsync.records import AuditEvent as AuditEvent
    from schoolsync.records import Grant as Grant
    from schoolsync.records import Membership as Membership
    from schoolsync.records import Pupil as Pupil
    from schoolsync.records import RoleAssignment as RoleAssignment
    from schoolsync.records import School as School
    from schoolsync.records import SchoolClass as SchoolClass
    from schoolsync.records import StaffMember as StaffMember
    from schoolsync.records import Trust as Trust
    from schoolsync.records import YearGroup as YearGroup
    from schoolsync.service import TrustOffice as TrustOffice
    from schoolsync.sources import read_ctf as read_ctf
    from schoolsync.sources import read_oneroster as read_oneroster
    from schoolsync.sources import read_sds as read_sds
    from schoolsync.sources import read_tabular as read_tabular
    from schoolsync.storage import PostgresStore as PostgresStore
    from schoolsync.storage import SqliteStore as SqliteStore
    from schoolsync.sync import SyncPlan as SyncPlan
    from schoolsync.sync import SyncReport as SyncReport
    from schoolsync.sync import apply as apply
    from schoolsync.sync import incremental_sync as incremental_sync
    from schoolsync.sync import plan as plan
    from schoolsync.sync import rollover_sync as rollover_sync
    from schoolsync.sync import unmatch as unmatch
    from schoolsync.trusts import TrustPolicy as TrustPolicy
    from schoolsync.views import schools_in_view as schools_in_view
    from schoolsync.views import trust_report as trust_report

__version__ = "0.1.0"

#: THE list of public names, by the module each comes from. It drives both ``__all__`` and the
#: lazy imports below.
_EXPORTS: dict[str, tuple[str, ...]] = {
    # the one exception every other derives from (the tree: schoolsync.errors)
    "schoolsync.errors": ("SchoolsyncError",),
    # UK identifiers as validated values
    "schoolsync.identifiers": (
        "Laestab",
        "Postcode",
        "Uln",
        "Upn",
        "Urn",
    ),
    # the academic calendar
    "schoolsync.calendar": (
        "AcademicYear",
        "year_group_for",
    ),
    # the records a host stores
    "schoolsync.records": (
        "Account",
        "AuditAction",
        "AuditEvent",
        "Grant",
        "Membership",
        "Pupil",
        "RoleAssignment",
        "School",
        "SchoolClass",
        "StaffMember",
        "Trust",
        "YearGroup",
    ),
    # time, injected
    "schoolsync.clock": ("SystemClock",),
    # a host's trust rules
    "schoolsync.trusts": ("TrustPolicy",),
    # roles, permissions and explained decisions
    "schoolsync.access": (
        "AccessAdmin",
        "AccessIndex",
        "Decision",
        "RoleCatalogue",
    ),
    # trust set-up, invitations and grants
    "schoolsync.access.lifecycle": ("TrustLifecycle",),
    # the one service a host creates per store: every change through it, the index live
    "schoolsync.service": ("TrustOffice",),
    # trust-wide views that only ask schools that granted
    "schoolsync.views": (
        "schools_in_view",
        "trust_report",
    ),
    # matching MIS records to the app's
    "schoolsync.matching": (
        "MatchReview",
        "MatchSettings",
        "MatchStatus",
        "match_classes",
        "match_pupils",
        "match_staff",
        "match_year_groups",
    ),
    # sync plans, apply with backups, undo, nightly and new-year sync
    "schoolsync.sync": (
        "SyncPlan",
        "SyncReport",
        "apply",
        "incremental_sync",
        "plan",
        "rollover_sync",
        "unmatch",
    ),
    # users to CSV/XLSX and back
    "schoolsync.bulk": (
        "ChangeSet",
        "apply_change_set",
        "export_users",
        "import_users",
    ),
    # MIS export readers
    "schoolsync.sources": (
        "read_ctf",
        "read_oneroster",
        "read_sds",
        "read_tabular",
    ),
    # the bundled stores
    "schoolsync.storage": (
        "PostgresStore",
        "SqliteStore",
    ),
}

logging.getLogger(__name__).addHandler(logging.NullHandler())

_MODULE_OF: dict[str, str] = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *sorted(_MODULE_OF)]


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, _MODULE_OF, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
