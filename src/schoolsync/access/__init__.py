"""schoolsync.access: roles, permissions, grants and explainable access decisions.

Declare a :class:`RoleCatalogue`, build an :class:`AccessIndex` from records (or a store's unit of
work), and ask :meth:`AccessIndex.check` for a :class:`Decision`.
"""

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.activation import (
    ActivationChallenge,
    ActivationOutcome,
    redeem_activation,
    start_activation,
)
from schoolsync.access.admin import AccessAdmin
from schoolsync.access.catalogue import (
    Permission,
    PermissionLevel,
    Role,
    RoleCatalogue,
    RoleScope,
)
from schoolsync.access.decision import (
    AccessChange,
    AccessDiff,
    AccessPath,
    AccessTable,
    Decision,
    DenialReason,
    MissingFact,
)
from schoolsync.access.grants import Grant
from schoolsync.access.index import AccessIndex, AccessRequest
from schoolsync.access.records import RECORD_KINDS, AccessRecords, record_event, write_events

__all__ = [
    "RECORD_KINDS",
    "AccessAdmin",
    "AccessChange",
    "AccessDiff",
    "AccessIndex",
    "AccessPath",
    "AccessRecords",
    "AccessRequest",
    "AccessTable",
    "Account",
    "AccountStatus",
    "ActivationChallenge",
    "ActivationOutcome",
    "Decision",
    "DenialReason",
    "Grant",
    "MissingFact",
    "Permission",
    "PermissionLevel",
    "Role",
    "RoleAssignment",
    "RoleCatalogue",
    "RoleScope",
    "record_event",
    "redeem_activation",
    "start_activation",
    "write_events",
]
