"""MIS sync: plans a person reads, atomic apply with backups and undo, nightly and new-year sync,
leavers and erasure.

The flow (see docs/sync.md)::

    review = match_pupils(mis_pupils, app_pupils)           # schoolsync.matching
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, school_id)
    sync_plan = plan([year_groups, classes, staff, review], current, at=now)
    sync_plan.to_rows()                                     # what will change, old values shown
    report = apply(sync_plan, store, connection=connection, at=now, notifier=notifier)

Nightly: :func:`incremental_sync`; new academic year: :func:`rollover_sync`; undo:
:func:`unmatch`; a person's decisions, remembered: :func:`record_decision`,
:func:`load_decisions`, :func:`forget_decision`; leavers: :func:`soft_delete`, :func:`purge_expired`, :func:`erase`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schoolsync import _lazy

if TYPE_CHECKING:
    from schoolsync.sync.applying import apply, original_backup_id, report_for, unmatch
    from schoolsync.sync.connection import (
        CONFIGURE_PERMISSION,
        ConnectionStatus,
        DataSharing,
        MisConnection,
        PermissionCheck,
        authorise,
        deauthorise,
        require_active,
        set_data_sharing,
        shares_result,
    )
    from schoolsync.sync.decisions import (
        MatchChoice,
        MatchDecision,
        MatchDecisions,
        decide_in,
        forget_decision,
        load_decisions,
        record_decision,
    )
    from schoolsync.sync.emails import (
        EmailBatch,
        EmailFailure,
        EmailPolicy,
        generate_emails,
        is_valid_email,
        normalise_name_part,
        validate_pattern,
    )
    from schoolsync.sync.identity import identity_hashes
    from schoolsync.sync.incremental import (
        Delta,
        SnapshotSource,
        delta_of,
        incremental_plan,
        incremental_sync,
        read_snapshot,
    )
    from schoolsync.sync.leavers import (
        PurgeResult,
        RetentionPolicy,
        erase,
        prune_backups,
        purge_expired,
        restore_deleted,
        soft_delete,
    )
    from schoolsync.sync.planning import pairings_from_review, plan, plan_id, plan_pairings
    from schoolsync.sync.plans import (
        MIS_OWNED_FIELDS,
        Action,
        FieldChange,
        GuardCheck,
        Pairing,
        PairStatus,
        PlannedChange,
        PlanOptions,
        SyncPlan,
    )
    from schoolsync.sync.records import (
        Backup,
        DeletedRecord,
        RecordKind,
        SyncLink,
        SyncState,
        Tombstone,
    )
    from schoolsync.sync.report import Outcome, ReportEntry, SyncReport
    from schoolsync.sync.rollover import (
        RolloverAssessment,
        assess_rollover,
        rollover_plan,
        rollover_sync,
    )
    from schoolsync.sync.saving import (
        plan_from_dict,
        plan_to_dict,
        report_from_dict,
        report_to_dict,
    )
    from schoolsync.sync.state import (
        APP_EDITABLE_FIELDS,
        SchoolRecords,
        check_app_edit,
        edit_record,
        sync_state,
    )

# Imported lazily: schoolsync.ports imports schoolsync.sync.records, and the sync modules import
# schoolsync.ports, so importing them eagerly here would be circular.
_LAZY: dict[str, str] = {
    "APP_EDITABLE_FIELDS": "schoolsync.sync.state",
    "Action": "schoolsync.sync.plans",
    "Backup": "schoolsync.sync.records",
    "CONFIGURE_PERMISSION": "schoolsync.sync.connection",
    "ConnectionStatus": "schoolsync.sync.connection",
    "DataSharing": "schoolsync.sync.connection",
    "Delta": "schoolsync.sync.incremental",
    "DeletedRecord": "schoolsync.sync.records",
    "EmailBatch": "schoolsync.sync.emails",
    "EmailFailure": "schoolsync.sync.emails",
    "EmailPolicy": "schoolsync.sync.emails",
    "FieldChange": "schoolsync.sync.plans",
    "GuardCheck": "schoolsync.sync.plans",
    "MIS_OWNED_FIELDS": "schoolsync.sync.plans",
    "MisConnection": "schoolsync.sync.connection",
    "MatchChoice": "schoolsync.sync.decisions",
    "MatchDecision": "schoolsync.sync.decisions",
    "MatchDecisions": "schoolsync.sync.decisions",
    "Outcome": "schoolsync.sync.report",
    "PairStatus": "schoolsync.sync.plans",
    "Pairing": "schoolsync.sync.plans",
    "PermissionCheck": "schoolsync.sync.connection",
    "PlanOptions": "schoolsync.sync.plans",
    "PlannedChange": "schoolsync.sync.plans",
    "PurgeResult": "schoolsync.sync.leavers",
    "RecordKind": "schoolsync.sync.records",
    "ReportEntry": "schoolsync.sync.report",
    "RetentionPolicy": "schoolsync.sync.leavers",
    "RolloverAssessment": "schoolsync.sync.rollover",
    "SchoolRecords": "schoolsync.sync.state",
    "SnapshotSource": "schoolsync.sync.incremental",
    "SyncLink": "schoolsync.sync.records",
    "SyncPlan": "schoolsync.sync.plans",
    "SyncReport": "schoolsync.sync.report",
    "SyncState": "schoolsync.sync.records",
    "Tombstone": "schoolsync.sync.records",
    "apply": "schoolsync.sync.applying",
    "assess_rollover": "schoolsync.sync.rollover",
    "authorise": "schoolsync.sync.connection",
    "check_app_edit": "schoolsync.sync.state",
    "deauthorise": "schoolsync.sync.connection",
    "decide_in": "schoolsync.sync.decisions",
    "delta_of": "schoolsync.sync.incremental",
    "edit_record": "schoolsync.sync.state",
    "erase": "schoolsync.sync.leavers",
    "forget_decision": "schoolsync.sync.decisions",
    "generate_emails": "schoolsync.sync.emails",
    "identity_hashes": "schoolsync.sync.identity",
    "incremental_plan": "schoolsync.sync.incremental",
    "incremental_sync": "schoolsync.sync.incremental",
    "is_valid_email": "schoolsync.sync.emails",
    "normalise_name_part": "schoolsync.sync.emails",
    "original_backup_id": "schoolsync.sync.applying",
    "load_decisions": "schoolsync.sync.decisions",
    "pairings_from_review": "schoolsync.sync.planning",
    "plan": "schoolsync.sync.planning",
    "plan_id": "schoolsync.sync.planning",
    "plan_pairings": "schoolsync.sync.planning",
    "plan_from_dict": "schoolsync.sync.saving",
    "plan_to_dict": "schoolsync.sync.saving",
    "report_from_dict": "schoolsync.sync.saving",
    "report_to_dict": "schoolsync.sync.saving",
    "prune_backups": "schoolsync.sync.leavers",
    "purge_expired": "schoolsync.sync.leavers",
    "read_snapshot": "schoolsync.sync.incremental",
    "record_decision": "schoolsync.sync.decisions",
    "report_for": "schoolsync.sync.applying",
    "require_active": "schoolsync.sync.connection",
    "restore_deleted": "schoolsync.sync.leavers",
    "rollover_plan": "schoolsync.sync.rollover",
    "rollover_sync": "schoolsync.sync.rollover",
    "set_data_sharing": "schoolsync.sync.connection",
    "shares_result": "schoolsync.sync.connection",
    "soft_delete": "schoolsync.sync.leavers",
    "sync_state": "schoolsync.sync.state",
    "unmatch": "schoolsync.sync.applying",
    "validate_pattern": "schoolsync.sync.emails",
}

__all__ = [
    "APP_EDITABLE_FIELDS",
    "CONFIGURE_PERMISSION",
    "MIS_OWNED_FIELDS",
    "Action",
    "Backup",
    "ConnectionStatus",
    "DataSharing",
    "DeletedRecord",
    "Delta",
    "EmailBatch",
    "EmailFailure",
    "EmailPolicy",
    "FieldChange",
    "GuardCheck",
    "MatchChoice",
    "MatchDecision",
    "MatchDecisions",
    "MisConnection",
    "Outcome",
    "PairStatus",
    "Pairing",
    "PermissionCheck",
    "PlanOptions",
    "PlannedChange",
    "PurgeResult",
    "RecordKind",
    "ReportEntry",
    "RetentionPolicy",
    "RolloverAssessment",
    "SchoolRecords",
    "SnapshotSource",
    "SyncLink",
    "SyncPlan",
    "SyncReport",
    "SyncState",
    "Tombstone",
    "apply",
    "assess_rollover",
    "authorise",
    "check_app_edit",
    "deauthorise",
    "decide_in",
    "delta_of",
    "edit_record",
    "erase",
    "forget_decision",
    "generate_emails",
    "identity_hashes",
    "incremental_plan",
    "incremental_sync",
    "is_valid_email",
    "load_decisions",
    "normalise_name_part",
    "original_backup_id",
    "pairings_from_review",
    "plan",
    "plan_from_dict",
    "plan_id",
    "plan_pairings",
    "plan_to_dict",
    "prune_backups",
    "purge_expired",
    "read_snapshot",
    "record_decision",
    "report_for",
    "report_from_dict",
    "report_to_dict",
    "require_active",
    "restore_deleted",
    "rollover_plan",
    "rollover_sync",
    "set_data_sharing",
    "shares_result",
    "soft_delete",
    "sync_state",
    "unmatch",
    "validate_pattern",
]


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, _LAZY, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
