"""The append-only audit log's event record.

Events hold identifiers (account, school, record ids), never personal data such as names,
emails or birth dates: purges and erasures stay auditable after the person is gone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

__all__ = ["LEGACY_ACTIONS", "AuditAction", "AuditEvent", "action_named"]


class AuditAction(StrEnum):
    """What an audit event records, as ``"<subject>.<what happened>"``.

    The value is what the audit log stores. :attr:`AuditEvent.action` also accepts a plain
    string: one an earlier version stored loads as the member it stands for today
    (:data:`LEGACY_ACTIONS`); any other (a host's own actions) is kept as it is.

    Each change has one action, whichever path made it: a role given by
    :class:`~schoolsync.access.AccessAdmin`, the trust lifecycle or a bulk change set is
    :attr:`ROLE_ASSIGNED`; a new account is :attr:`ACCOUNT_ADDED`.
    """

    # accounts and role assignments
    ACCOUNT_ADDED = "account.added"
    """An account was created (invited), by any path."""
    ACCOUNT_CHANGED = "account.changed"
    ACCOUNT_REMOVED = "account.removed"
    ACCOUNT_ACTIVATED = "account.activated"
    ACCOUNT_RENAMED = "account.renamed"
    ACCOUNT_DEACTIVATED = "account.deactivated"
    ACCOUNT_REACTIVATED = "account.reactivated"
    ACTIVATION_ISSUED = "activation.issued"
    """A sign-up link and code were issued (the attempts already made at the account carry over)."""
    ACTIVATION_FAILED = "activation.failed"
    """A wrong link or code was tried (one attempt counted against the account)."""
    ACTIVATION_UNLOCKED = "activation.unlocked"
    """An administrator cleared an account's activation attempts."""
    ROLE_ASSIGNED = "assignment.added"
    """A role was given, by any path (AccessAdmin, the trust lifecycle, a bulk change set)."""
    ROLE_REMOVED = "assignment.removed"
    """A role was taken away, by any path."""
    ROLE_TRANSFERRED = "role.transferred"
    """An "exactly one" role moved between accounts (two events: the removal and the gift)."""
    ASSIGNMENT_CHANGED = "assignment.changed"
    # trusts
    TRUST_CREATED = "trust.created"
    TRUST_CHANGED = "trust.changed"
    TRUST_REMOVED = "trust.removed"
    TRUST_ADMIN_NOMINATED = "trust.admin_nominated"
    TRUST_ADMIN_ACCEPTED = "trust.admin_accepted"
    # schools
    SCHOOL_CREATED = "school.created"
    SCHOOL_CHANGED = "school.changed"
    SCHOOL_REMOVED = "school.removed"
    SCHOOL_URN_CHANGED = "school.urn_changed"
    # memberships
    MEMBERSHIP_CREATED = "membership.created"
    MEMBERSHIP_CHANGED = "membership.changed"
    MEMBERSHIP_INVITATION_SENT = "membership.invitation_sent"
    MEMBERSHIP_INVITATION_RESENT = "membership.invitation_resent"
    MEMBERSHIP_ACCEPTED = "membership.accepted"
    MEMBERSHIP_DECLINED = "membership.declined"
    MEMBERSHIP_EXPIRED = "membership.expired"
    MEMBERSHIP_LEFT = "membership.left"
    MEMBERSHIP_REMOVED = "membership.removed"
    # grants
    GRANT_CREATED = "grant.created"
    GRANT_CHANGED = "grant.changed"
    GRANT_NARROWED = "grant.narrowed"
    GRANT_REVOKED = "grant.revoked"
    GRANT_EXPIRED = "grant.expired"
    GRANT_ENDED = "grant.ended"
    GRANT_REMOVED = "grant.removed"
    # bulk changes
    BULK_CHANGE_SET_APPLIED = "bulk.change_set.applied"
    # MIS sync
    MIS_SYNC_APPLY = "mis_sync.apply"
    MIS_SYNC_INCREMENTAL = "mis_sync.incremental"
    MIS_SYNC_ROLLOVER = "mis_sync.rollover"
    MIS_SYNC_UNMATCHED = "mis_sync.unmatched"
    MATCH_DECIDED = "match_decision.made"
    """A person's match decision was remembered (ids, the choice and who; no names)."""
    MATCH_DECISION_REMOVED = "match_decision.removed"
    """A remembered match decision was forgotten or replaced by a later one."""
    MIS_CONNECTION_SET_UP = "mis_connection.set_up"
    MIS_CONNECTION_AUTHORISED = "mis_connection.authorised"
    MIS_CONNECTION_DEAUTHORISED = "mis_connection.deauthorised"
    MIS_CONNECTION_DATA_SHARING_CHANGED = "mis_connection.data_sharing_changed"
    # leavers and erasure
    RECORD_SOFT_DELETED = "record.soft_deleted"
    RECORD_RESTORED = "record.restored"
    RECORD_PURGED = "record.purged"
    RECORD_ERASED = "record.erased"

    @classmethod
    def _missing_(cls, value: object) -> AuditAction | None:
        return LEGACY_ACTIONS.get(str(value))


#: Action strings earlier versions stored, and the member each loads as today.
LEGACY_ACTIONS: dict[str, AuditAction] = {
    "assignment.created": AuditAction.ROLE_ASSIGNED,
    "role.assigned": AuditAction.ROLE_ASSIGNED,
    "role.removed": AuditAction.ROLE_REMOVED,
    "account.created": AuditAction.ACCOUNT_ADDED,
    "trust.added": AuditAction.TRUST_CREATED,
    "school.added": AuditAction.SCHOOL_CREATED,
    "membership.added": AuditAction.MEMBERSHIP_CREATED,
    "grant.added": AuditAction.GRANT_CREATED,
}


def action_named(value: str) -> str:
    """The :class:`AuditAction` *value* names (by value, or a legacy string), else *value*."""
    if isinstance(value, AuditAction):
        return value
    text = str(value)
    try:
        return AuditAction(text)
    except ValueError:
        return text


@attrs.frozen(kw_only=True)
class AuditEvent:
    """One immutable change: who did what to which subject, when, with before and after.

    ``before`` and ``after`` are plain JSON-able values (usually a record unstructured by
    :data:`schoolsync.serialisation.converter`) or ``None``. ``action`` is an
    :class:`AuditAction` (stored as its string value); a string that names one becomes it, any
    other string is kept as given.
    """

    id: str
    at: datetime
    actor_id: str | None
    action: str = attrs.field(converter=action_named)
    subject_kind: str
    subject_id: str
    trust_id: str | None = None
    school_id: str | None = None
    account_id: str | None = None
    before: Any = None
    after: Any = None
