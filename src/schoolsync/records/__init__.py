"""The records at the bottom: plain attrs classes every other layer builds on.

Accounts and role assignments, grants, trusts, schools and memberships, people (pupils, staff,
classes, year groups), the records the MIS sync keeps, audit events and their actions, and the
review status of a pair, and the match decisions a person made. This package imports nothing but attrs, the standard library and
:mod:`schoolsync.identifiers`; the rules that act on these records live above it (see
``ARCHITECTURE.md``).
"""

from __future__ import annotations

from schoolsync.records.accounts import (
    Account,
    AccountStatus,
    ActivationChallenge,
    RoleAssignment,
)
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.records.changes import AccessChange
from schoolsync.records.connections import ConnectionStatus, DataSharing, MisConnection
from schoolsync.records.decisions import MatchChoice, MatchDecision, MatchDecisions
from schoolsync.records.grants import Grant
from schoolsync.records.messages import OutboundMessage, OutboxEntry, OutboxState
from schoolsync.records.organisations import (
    Country,
    Membership,
    MembershipStatus,
    School,
    Trust,
    TrustAdminNomination,
    TrustKind,
)
from schoolsync.records.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.records.review import MatchStatus, PairStatus
from schoolsync.records.sync import (
    Backup,
    DeletedRecord,
    RecordKind,
    SyncLink,
    SyncState,
    Tombstone,
)

__all__ = [
    "AccessChange",
    "Account",
    "AccountStatus",
    "ActivationChallenge",
    "AuditAction",
    "AuditEvent",
    "Backup",
    "ConnectionStatus",
    "Country",
    "DataSharing",
    "DeletedRecord",
    "Gender",
    "Grant",
    "MatchChoice",
    "MatchDecision",
    "MatchDecisions",
    "MatchStatus",
    "Membership",
    "MembershipStatus",
    "MisConnection",
    "OutboundMessage",
    "OutboxEntry",
    "OutboxState",
    "PairStatus",
    "Pupil",
    "RecordKind",
    "RoleAssignment",
    "School",
    "SchoolClass",
    "StaffMember",
    "SyncLink",
    "SyncState",
    "Tombstone",
    "Trust",
    "TrustAdminNomination",
    "TrustKind",
    "YearGroup",
]
