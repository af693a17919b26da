"""schoolsync: a correct, fast, well-tested core for software used by school groups.

The most used names are available here; each capability lives in its own module:

- ``schoolsync.identifiers`` and ``schoolsync.calendar``: UK identifiers, academic years, year
  groups, cohorts and rollover (pure).
- ``schoolsync.access``: role catalogues, assignments, activation, :class:`AccessIndex` and
  explainable :class:`Decision` values; ``schoolsync.access.presets`` for five real products.
- ``schoolsync.trusts``, ``schoolsync.access.lifecycle`` and ``schoolsync.views``: trusts, school
  membership, school-to-trust grants and trust-wide views.
- ``schoolsync.matching``: MIS-to-app record matching and the :class:`MatchReview`.
- ``schoolsync.sync``: sync plans, atomic apply with backups, undo, nightly and new-year sync.
- ``schoolsync.bulk``: users to CSV/XLSX and back as a previewed :class:`ChangeSet`.
- ``schoolsync.sources``: OneRoster, Microsoft SDS, DfE CTF and mapped CSV/XLSX readers.
- ``schoolsync.storage``: :class:`SqliteStore` (embedded default) and :class:`PostgresStore`.
- ``schoolsync.testing``: the in-memory store, fakes, builders and strategies for your tests.

Importing ``schoolsync`` loads only the pure core; the other names load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from schoolsync.calendar import (
    AcademicYear,
    Jurisdiction,
    YearCode,
    academic_year_containing,
    compare_year_group,
    intake_cohort,
    rollover_school,
    year_group_for,
)
from schoolsync.errors import SchoolsyncError
from schoolsync.identifiers import (
    Laestab,
    Postcode,
    Uln,
    Upn,
    UpnProblem,
    Urn,
    find_duplicate_upns,
)
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup, change_upn
from schoolsync.trusts import Membership, MembershipStatus, School, Trust, TrustKind

if TYPE_CHECKING:
    from schoolsync.access import (
        AccessAdmin,
        AccessIndex,
        Decision,
        DenialReason,
        Grant,
        Permission,
        Role,
        RoleCatalogue,
    )
    from schoolsync.access.lifecycle import GrantChanged, GrantListener, TrustLifecycle
    from schoolsync.bulk import ChangeSet, apply_change_set, export_users, import_users
    from schoolsync.matching import (
        MatchReview,
        MatchSettings,
        MatchStatus,
        match_classes,
        match_pupils,
        match_staff,
        match_year_groups,
    )
    from schoolsync.sources import (
        CtfSource,
        OneRosterSource,
        SdsClassicSource,
        SdsSource,
        TabularSource,
        read_ctf,
        read_oneroster,
        read_sds,
        read_sds_classic,
        read_tabular,
    )
    from schoolsync.storage import PostgresStore, SqliteStore
    from schoolsync.sync import (
        MisConnection,
        SyncPlan,
        SyncReport,
        apply,
        incremental_sync,
        plan,
        rollover_sync,
        unmatch,
    )
    from schoolsync.testing.memory import MemoryStore
    from schoolsync.trusts import TrustPolicy
    from schoolsync.views import comparison_report, schools_in_view, trust_report

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        [
            "AccessAdmin",
            "AccessIndex",
            "Decision",
            "DenialReason",
            "Grant",
            "Permission",
            "Role",
            "RoleCatalogue",
        ],
        "schoolsync.access",
    ),
    **dict.fromkeys(
        ["GrantChanged", "GrantListener", "TrustLifecycle"], "schoolsync.access.lifecycle"
    ),
    "TrustPolicy": "schoolsync.trusts",
    **dict.fromkeys(["comparison_report", "schools_in_view", "trust_report"], "schoolsync.views"),
    **dict.fromkeys(
        ["ChangeSet", "apply_change_set", "export_users", "import_users"], "schoolsync.bulk"
    ),
    **dict.fromkeys(
        [
            "MatchReview",
            "MatchSettings",
            "MatchStatus",
            "match_classes",
            "match_pupils",
            "match_staff",
            "match_year_groups",
        ],
        "schoolsync.matching",
    ),
    **dict.fromkeys(
        [
            "CtfSource",
            "OneRosterSource",
            "SdsClassicSource",
            "SdsSource",
            "TabularSource",
            "read_ctf",
            "read_oneroster",
            "read_sds",
            "read_sds_classic",
            "read_tabular",
        ],
        "schoolsync.sources",
    ),
    **dict.fromkeys(["PostgresStore", "SqliteStore"], "schoolsync.storage"),
    **dict.fromkeys(
        [
            "MisConnection",
            "SyncPlan",
            "SyncReport",
            "apply",
            "incremental_sync",
            "plan",
            "rollover_sync",
            "unmatch",
        ],
        "schoolsync.sync",
    ),
    "MemoryStore": "schoolsync.testing.memory",
}

__all__ = [
    "AcademicYear",
    "AccessAdmin",
    "AccessIndex",
    "ChangeSet",
    "CtfSource",
    "Decision",
    "DenialReason",
    "Gender",
    "Grant",
    "GrantChanged",
    "GrantListener",
    "Jurisdiction",
    "Laestab",
    "MatchReview",
    "MatchSettings",
    "MatchStatus",
    "Membership",
    "MembershipStatus",
    "MemoryStore",
    "MisConnection",
    "OneRosterSource",
    "Permission",
    "Postcode",
    "PostgresStore",
    "Pupil",
    "Role",
    "RoleCatalogue",
    "School",
    "SchoolClass",
    "SchoolsyncError",
    "SdsClassicSource",
    "SdsSource",
    "SqliteStore",
    "StaffMember",
    "SyncPlan",
    "SyncReport",
    "TabularSource",
    "Trust",
    "TrustKind",
    "TrustLifecycle",
    "TrustPolicy",
    "Uln",
    "Upn",
    "UpnProblem",
    "Urn",
    "YearCode",
    "YearGroup",
    "__version__",
    "academic_year_containing",
    "apply",
    "apply_change_set",
    "change_upn",
    "compare_year_group",
    "comparison_report",
    "export_users",
    "find_duplicate_upns",
    "import_users",
    "incremental_sync",
    "intake_cohort",
    "match_classes",
    "match_pupils",
    "match_staff",
    "match_year_groups",
    "plan",
    "read_ctf",
    "read_oneroster",
    "read_sds",
    "read_sds_classic",
    "read_tabular",
    "rollover_school",
    "rollover_sync",
    "schools_in_view",
    "trust_report",
    "unmatch",
    "year_group_for",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'schoolsync' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
