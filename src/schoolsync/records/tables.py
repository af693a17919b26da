"""The table registry: every kind of stored record, once, as plain data.

Each :class:`Table` names a record kind's table (also the unit-of-work attribute), the record
type it holds, its indexed key columns and the few facts the layers above derive from it: the
audit ``subject_kind`` of its records, whether access decisions read it, which sync
:class:`~schoolsync.records.RecordKind` it holds. Storage (the SQL adapters, the codec, the
migrations' check), the in-memory store, the contract suite, the access records and the sync
state all derive their table lists from :data:`TABLES`.

Adding a kind of record: define its attrs record in :mod:`schoolsync.records`, add one
:class:`Table` here (and to :data:`TABLES`), append a migration creating its table
(:func:`schoolsync.storage.migrations.Migration.create_tables`) and give the contract suite a
sample (:func:`schoolsync.testing.contracts.sample_records`). Reach it through
``uow.repository(TABLE)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import attrs

from schoolsync.records.accounts import Account, ActivationChallenge, RoleAssignment
from schoolsync.records.brokers import QueuedResult, SyncWatermark
from schoolsync.records.changes import AccessChange
from schoolsync.records.connections import MisConnection
from schoolsync.records.decisions import MatchDecision
from schoolsync.records.grants import Grant
from schoolsync.records.messages import OutboxEntry
from schoolsync.records.nightly import NightlyJob
from schoolsync.records.organisations import Membership, School, Trust
from schoolsync.records.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.records.sync import Backup, DeletedRecord, RecordKind, SyncLink, Tombstone

__all__ = [
    "ACCESS_CHANGES",
    "ACCESS_TABLES",
    "ACCOUNTS",
    "ACTIVATION_CHALLENGES",
    "ASSIGNMENTS",
    "BACKUPS",
    "CLASSES",
    "DELETED",
    "GRANTS",
    "MATCH_DECISIONS",
    "MEMBERSHIPS",
    "MIS_CONNECTIONS",
    "NIGHTLY_JOBS",
    "OUTBOX",
    "PUPILS",
    "RESULT_OUTBOX",
    "SCHOOLS",
    "SCHOOL_RECORD_TABLES",
    "STAFF",
    "SYNC_LINKS",
    "SYNC_WATERMARKS",
    "TABLES",
    "TABLES_BY_NAME",
    "TOMBSTONES",
    "TRUSTS",
    "YEAR_GROUPS",
    "Table",
    "table_for",
]

R = TypeVar("R")


@attrs.frozen(kw_only=True)
class Table(Generic[R]):
    """One record kind's table.

    Attributes:
        name: the table name, also the unit-of-work attribute (``"pupils"``).
        kind: the human name used in errors (``"pupil"``, ``"role assignment"``).
        record_type: the attrs class stored in the table.
        columns: indexed key columns besides ``id``, each named after a record attribute.
        subject: the audit events' ``subject_kind`` for these records (``"assignment"``).
        access: access decisions read these records (the index and the trust lifecycle).
        record_kind: the school record kind the MIS sync keeps in this table, if any.
    """

    name: str
    kind: str
    record_type: type[R]
    columns: tuple[str, ...] = ()
    subject: str
    access: bool = False
    record_kind: RecordKind | None = None

    @property
    def school_scoped(self) -> bool:
        """True if rows carry a ``school_id`` key column (``list(school_id=...)`` filters)."""
        return "school_id" in self.columns

    @property
    def has_school_id(self) -> bool:
        """The same as :attr:`school_scoped` (the name the storage code used first)."""
        return self.school_scoped


TRUSTS: Table[Trust] = Table(
    name="trusts", kind="trust", record_type=Trust, subject="trust", access=True
)
SCHOOLS: Table[School] = Table(
    name="schools",
    kind="school",
    record_type=School,
    columns=("urn",),
    subject="school",
    access=True,
)
MEMBERSHIPS: Table[Membership] = Table(
    name="memberships",
    kind="membership",
    record_type=Membership,
    columns=("trust_id", "school_id"),
    subject="membership",
    access=True,
)
GRANTS: Table[Grant] = Table(
    name="grants",
    kind="grant",
    record_type=Grant,
    columns=("trust_id", "school_id"),
    subject="grant",
    access=True,
)
ACCOUNTS: Table[Account] = Table(
    name="accounts",
    kind="account",
    record_type=Account,
    columns=("trust_id",),
    subject="account",
    access=True,
)
ASSIGNMENTS: Table[RoleAssignment] = Table(
    name="assignments",
    kind="role assignment",
    record_type=RoleAssignment,
    columns=("account_id", "trust_id", "school_id"),
    subject="assignment",
    access=True,
)
PUPILS: Table[Pupil] = Table(
    name="pupils",
    kind="pupil",
    record_type=Pupil,
    columns=("school_id", "mis_id", "upn"),
    subject="pupil",
    record_kind=RecordKind.PUPIL,
)
STAFF: Table[StaffMember] = Table(
    name="staff",
    kind="staff member",
    record_type=StaffMember,
    columns=("school_id", "mis_id"),
    subject="staff",
    record_kind=RecordKind.STAFF,
)
CLASSES: Table[SchoolClass] = Table(
    name="classes",
    kind="class",
    record_type=SchoolClass,
    columns=("school_id", "mis_id"),
    subject="class",
    record_kind=RecordKind.CLASS,
)
YEAR_GROUPS: Table[YearGroup] = Table(
    name="year_groups",
    kind="year group",
    record_type=YearGroup,
    columns=("school_id", "mis_id"),
    subject="year_group",
    record_kind=RecordKind.YEAR_GROUP,
)
SYNC_LINKS: Table[SyncLink] = Table(
    name="sync_links",
    kind="sync link",
    record_type=SyncLink,
    columns=("school_id", "app_id", "mis_id"),
    subject="sync_link",
)
BACKUPS: Table[Backup] = Table(
    name="backups",
    kind="backup",
    record_type=Backup,
    columns=("school_id", "record_id"),
    subject="backup",
)
DELETED: Table[DeletedRecord] = Table(
    name="deleted",
    kind="deleted record",
    record_type=DeletedRecord,
    columns=("school_id", "record_id"),
    subject="deleted_record",
)
TOMBSTONES: Table[Tombstone] = Table(
    name="tombstones",
    kind="tombstone",
    record_type=Tombstone,
    columns=("school_id",),
    subject="tombstone",
)
OUTBOX: Table[OutboxEntry] = Table(
    name="outbox",
    kind="outbox entry",
    record_type=OutboxEntry,
    columns=("state",),
    subject="outbox_entry",
)
SYNC_WATERMARKS: Table[SyncWatermark] = Table(
    name="sync_watermarks",
    kind="sync watermark",
    record_type=SyncWatermark,
    columns=("school_id",),
    subject="sync_watermark",
)
RESULT_OUTBOX: Table[QueuedResult] = Table(
    name="result_outbox",
    kind="queued result",
    record_type=QueuedResult,
    columns=("school_id",),
    subject="queued_result",
)
NIGHTLY_JOBS: Table[NightlyJob] = Table(
    name="nightly_jobs",
    kind="nightly job",
    record_type=NightlyJob,
    columns=("school_id", "run_id"),
    subject="nightly_job",
)
MATCH_DECISIONS: Table[MatchDecision] = Table(
    name="match_decisions",
    kind="match decision",
    record_type=MatchDecision,
    columns=("school_id", "mis_id", "app_id"),
    subject="match_decision",
)
MIS_CONNECTIONS: Table[MisConnection] = Table(
    name="mis_connections",
    kind="MIS connection",
    record_type=MisConnection,
    columns=("school_id",),
    subject="mis_connection",
)
ACTIVATION_CHALLENGES: Table[ActivationChallenge] = Table(
    name="activation_challenges",
    kind="activation challenge",
    record_type=ActivationChallenge,
    columns=("account_id",),
    subject="activation_challenge",
)
ACCESS_CHANGES: Table[AccessChange] = Table(
    name="access_changes",
    kind="access change",
    record_type=AccessChange,
    subject="access_change",
)

#: Every table, in the order stores create and list them.
TABLES: tuple[Table[Any], ...] = (
    TRUSTS,
    SCHOOLS,
    MEMBERSHIPS,
    GRANTS,
    ACCOUNTS,
    ASSIGNMENTS,
    PUPILS,
    STAFF,
    CLASSES,
    YEAR_GROUPS,
    SYNC_LINKS,
    BACKUPS,
    DELETED,
    TOMBSTONES,
    OUTBOX,
    SYNC_WATERMARKS,
    RESULT_OUTBOX,
    NIGHTLY_JOBS,
    MATCH_DECISIONS,
    MIS_CONNECTIONS,
    ACTIVATION_CHALLENGES,
    ACCESS_CHANGES,
)

#: The tables by name (``TABLES_BY_NAME["pupils"]``).
TABLES_BY_NAME: Mapping[str, Table[Any]] = {table.name: table for table in TABLES}

#: The tables access decisions read (trusts, schools, memberships, grants, accounts, assignments).
ACCESS_TABLES: tuple[Table[Any], ...] = tuple(t for t in TABLES if t.access)

#: The tables of school records the MIS sync keeps, by record kind.
SCHOOL_RECORD_TABLES: Mapping[RecordKind, Table[Any]] = {
    t.record_kind: t for t in TABLES if t.record_kind is not None
}

_BY_TYPE: Mapping[type[Any], Table[Any]] = {t.record_type: t for t in TABLES}


def table_for(record: object) -> Table[Any]:
    """The table that stores *record* (by its exact type).

    Raises:
        TypeError: no table stores records of that type.
    """
    table = _BY_TYPE.get(type(record))
    if table is None:
        raise TypeError(f"no table stores {type(record).__name__} records")
    return table
