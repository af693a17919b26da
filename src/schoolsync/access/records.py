"""The access records an index reads, and the audit events that change them.

Every change to an account, a role assignment, a grant, a membership or a school is an
:class:`~schoolsync.audit.AuditEvent` whose ``before`` and ``after`` hold the record unstructured
by :data:`schoolsync.serialisation.converter` (``None`` for "did not exist"). Account events drop
the name and email (no personal data in the audit log). Replaying events forwards
(:meth:`AccessRecords.apply_event`) or undoing them backwards (:meth:`AccessRecords.undo_event`)
reproduces the records at any moment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from schoolsync.records import (
    Account,
    AuditEvent,
    Grant,
    Membership,
    RoleAssignment,
    School,
    Trust,
)
from schoolsync.records.audit import AuditAction
from schoolsync.records.tables import ACCESS_TABLES
from schoolsync.serialisation import converter

if TYPE_CHECKING:
    from schoolsync.ports import Repository, UnitOfWork

__all__ = [
    "RECORD_KINDS",
    "AccessRecords",
    "event_id_for",
    "is_access_event",
    "kind_of_record",
    "record_event",
    "repository_for",
    "write_events",
]

#: The audit ``subject_kind`` of each access record type (from the table registry).
RECORD_KINDS: dict[str, type[Any]] = {t.subject: t.record_type for t in ACCESS_TABLES}
_ALIASES = {t.name: t.subject for t in ACCESS_TABLES} | {"role_assignment": "assignment"}
_TABLE = {t.subject: t for t in ACCESS_TABLES}
_PERSONAL = ("name", "email")


def _kind_of(subject_kind: str) -> str | None:
    kind = _ALIASES.get(subject_kind, subject_kind)
    return kind if kind in RECORD_KINDS else None


#: How the actions of changes to access records begin. Other events may name the same subject
#: kinds without holding a record (a sync's summary event is about its school).
ACCESS_ACTION_PREFIXES = (
    "account.",
    "assignment.",
    "role.",
    "trust.",
    "school.",
    "membership.",
    "grant.",
)


def is_access_event(event: AuditEvent) -> bool:
    """True if *event* records a change of an access record (its ``before``/``after`` are the
    record), so an index applies or undoes it; False for any other event, even one about a
    school or an account (a sync's summary, a host's own actions)."""
    return _kind_of(event.subject_kind) is not None and str(event.action).startswith(
        ACCESS_ACTION_PREFIXES
    )


#: The action of an added, changed and removed record of each kind (unless one is given).
_DEFAULT_ACTIONS: dict[str, tuple[AuditAction, AuditAction, AuditAction]] = {
    "trust": (AuditAction.TRUST_CREATED, AuditAction.TRUST_CHANGED, AuditAction.TRUST_REMOVED),
    "school": (AuditAction.SCHOOL_CREATED, AuditAction.SCHOOL_CHANGED, AuditAction.SCHOOL_REMOVED),
    "membership": (
        AuditAction.MEMBERSHIP_CREATED,
        AuditAction.MEMBERSHIP_CHANGED,
        AuditAction.MEMBERSHIP_REMOVED,
    ),
    "account": (
        AuditAction.ACCOUNT_ADDED,
        AuditAction.ACCOUNT_CHANGED,
        AuditAction.ACCOUNT_REMOVED,
    ),
    "assignment": (
        AuditAction.ROLE_ASSIGNED,
        AuditAction.ASSIGNMENT_CHANGED,
        AuditAction.ROLE_REMOVED,
    ),
    "grant": (AuditAction.GRANT_CREATED, AuditAction.GRANT_CHANGED, AuditAction.GRANT_REMOVED),
}


def kind_of_record(record: Any) -> str:
    """The audit ``subject_kind`` of an access record (a key of :data:`RECORD_KINDS`)."""
    for kind, kind_type in RECORD_KINDS.items():
        if isinstance(record, kind_type):
            return kind
    raise ValueError(f"not an access record: {type(record).__name__}")


def repository_for(uow: UnitOfWork, kind: str) -> Repository[Any]:
    """The repository of *uow* holding records of *kind*."""
    return uow.repository(_TABLE[kind])


def _unstructure(record: Any) -> Any:
    """A record as an audit event keeps it: no account names or emails, no token hashes."""
    if record is None:
        return None
    data: dict[str, Any] = converter.unstructure(record)
    if isinstance(record, Account):
        for key in _PERSONAL:
            data.pop(key, None)
    if isinstance(record, Trust):
        for nomination in data.get("admin_nominations", []):
            nomination.pop("token_hash", None)  # a secret's hash never goes to the audit log
    return data


def record_event(
    kind: str,
    before: Any,
    after: Any,
    *,
    at: datetime,
    actor_id: str | None,
    action: AuditAction | str | None = None,
    event_id: str | None = None,
) -> AuditEvent:
    """An audit event for a change of one access record (``before``/``after`` ``None`` = absent).

    ``kind`` is one of :data:`RECORD_KINDS`. Names and emails of accounts are left out, and
    so are the token hashes of a trust's admin nominations. Without *action*, the kind's
    added / changed / removed :class:`~schoolsync.records.audit.AuditAction` (a role given is
    ``ROLE_ASSIGNED``, whichever path gives it).
    ``event_id`` is the event's id: services pass one from their
    :class:`~schoolsync.ports.IdSource`; without it the id is derived from the event itself
    (:func:`event_id_for`), so this function stays pure.
    """
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    record = after if after is not None else before
    if record is None:
        raise ValueError("an event needs a before or an after record")
    if action is None:
        added, changed, removed = _DEFAULT_ACTIONS[kind]
        action = added if before is None else removed if after is None else changed
    school_id = record.id if isinstance(record, School) else getattr(record, "school_id", None)
    trust_id = record.id if isinstance(record, Trust) else getattr(record, "trust_id", None)
    account_id = record.id if isinstance(record, Account) else getattr(record, "account_id", None)
    before_data, after_data = _unstructure(before), _unstructure(after)
    return AuditEvent(
        id=event_id or event_id_for(kind, action, record.id, at, before_data, after_data),
        at=at,
        actor_id=actor_id,
        action=action,
        subject_kind=kind,
        subject_id=record.id,
        trust_id=trust_id,
        school_id=school_id,
        account_id=account_id,
        before=before_data,
        after=after_data,
    )


def event_id_for(
    kind: str, action: str, subject_id: str, at: datetime, before: Any, after: Any
) -> str:
    """An event id derived from what the event says (32 hex digits): the same change of the
    same record at the same moment gets the same id, any other event another one."""
    text = json.dumps(
        [kind, str(action), subject_id, at.isoformat(), before, after],
        sort_keys=True,
        default=str,
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@attrs.define(kw_only=True)
class AccessRecords:
    """Every record an access decision depends on, keyed by id (a mutable working set)."""

    trusts: dict[str, Trust] = attrs.field(factory=dict)
    schools: dict[str, School] = attrs.field(factory=dict)
    memberships: dict[str, Membership] = attrs.field(factory=dict)
    accounts: dict[str, Account] = attrs.field(factory=dict)
    assignments: dict[str, RoleAssignment] = attrs.field(factory=dict)
    grants: dict[str, Grant] = attrs.field(factory=dict)

    @classmethod
    def of(
        cls,
        *,
        trusts: Iterable[Trust] = (),
        schools: Iterable[School] = (),
        memberships: Iterable[Membership] = (),
        accounts: Iterable[Account] = (),
        assignments: Iterable[RoleAssignment] = (),
        grants: Iterable[Grant] = (),
    ) -> AccessRecords:
        """Records from iterables of each kind."""
        return cls(
            trusts={r.id: r for r in trusts},
            schools={r.id: r for r in schools},
            memberships={r.id: r for r in memberships},
            accounts={r.id: r for r in accounts},
            assignments={r.id: r for r in assignments},
            grants={r.id: r for r in grants},
        )

    @classmethod
    def from_unit_of_work(cls, uow: UnitOfWork) -> AccessRecords:
        """Read every access record from a unit of work."""
        return cls(**{t.name: {r.id: r for r in uow.repository(t).list()} for t in ACCESS_TABLES})

    def copy(self) -> AccessRecords:
        """An independent copy (records are immutable, so the dicts are copied shallowly)."""
        return AccessRecords(**{t.name: dict(getattr(self, t.name)) for t in ACCESS_TABLES})

    def table(self, kind: str) -> dict[str, Any]:
        """The dict holding records of *kind* (``"grant"``, ``"account"``...)."""
        table: dict[str, Any] = getattr(self, _TABLE[kind].name)
        return table

    def _set(self, kind: str, subject_id: str, data: Any) -> None:
        table = self.table(kind)
        if data is None:
            table.pop(subject_id, None)
            return
        data = dict(data)
        if kind == "account":
            old = table.get(subject_id)
            for key in _PERSONAL:
                data.setdefault(key, "" if old is None else getattr(old, key))
        try:
            table[subject_id] = converter.structure(data, RECORD_KINDS[kind])
        except Exception:
            if kind != "trust":
                raise
            # A trust record only names the trust in explanations; keep the one we have.

    def apply_event(self, event: AuditEvent) -> str | None:
        """Apply an event's ``after``; returns the record kind, or ``None`` if not an access record."""
        kind = _kind_of(event.subject_kind)
        if kind is not None:
            self._set(kind, event.subject_id, event.after)
        return kind

    def undo_event(self, event: AuditEvent) -> str | None:
        """Restore an event's ``before``; returns the record kind, or ``None`` if not an access record."""
        kind = _kind_of(event.subject_kind)
        if kind is not None:
            self._set(kind, event.subject_id, event.before)
        return kind


def write_events(uow: UnitOfWork, events: Iterable[AuditEvent], records: AccessRecords) -> None:
    """Write the records changed by *events* (as they are in *records*) and the events to *uow*.

    The caller commits. Removed records are removed; others are put.
    """
    for event in events:
        kind = _kind_of(event.subject_kind)
        if kind is not None:
            repo = repository_for(uow, kind)
            current = records.table(kind).get(event.subject_id)
            if current is None:
                if repo.get(event.subject_id) is not None:
                    repo.remove(event.subject_id)
            else:
                repo.put(current)
        uow.audit.append(event)
