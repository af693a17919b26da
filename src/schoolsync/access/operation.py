"""One audited operation: a unit of work that checks, writes and audits each change.

:class:`AuditedOperation` is the shared shape of every service that changes access records in a
store: the trust lifecycle (:class:`~schoolsync.access.lifecycle.TrustLifecycle`) and bulk
change sets (:func:`schoolsync.bulk.apply_change_set`) write through it. Each write stores the
record and appends its :class:`~schoolsync.records.audit.AuditEvent` (made by
:func:`~schoolsync.access.records.record_event`: ids only, no names, emails or token hashes)
to the same unit of work, so a failure rolls back both. Outbound messages are queued and
delivered only after the commit (:meth:`AuditedOperation.deliver`).

**The one write path for role assignments** in a store is :meth:`AuditedOperation.assign_role`
/ :meth:`~AuditedOperation.unassign_role`: the caller's check runs first (for a role
catalogue, :meth:`~schoolsync.access.AccessAdmin.check_assignment`: caps, requirements,
delegation), then the record is written and audited as ``AuditAction.ROLE_ASSIGNED`` /
``ROLE_REMOVED``, the same event :meth:`AccessAdmin.assign <schoolsync.access.AccessAdmin.assign>`
makes for an in-memory index.

**Locks.** A change is judged on what is read *after* its locks are taken, in the same unit of
work (:meth:`AuditedOperation.lock`): trusts first, then schools, each in sorted order.
``assign_role`` / ``unassign_role`` take the trust's lock (and the school's, for a school role)
before their check, so caps and "exactly one" count the holders under the lock; the trust
lifecycle and bulk change sets take theirs at the start, before they read anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs

from schoolsync.access.admin import AccessAdmin
from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.index import AccessIndex
from schoolsync.access.records import (
    AccessRecords,
    kind_of_record,
    record_event,
    repository_for,
)
from schoolsync.ports import Notifier, OutboundMessage, Store, UnitOfWork
from schoolsync.records.accounts import RoleAssignment
from schoolsync.records.audit import AuditAction, AuditEvent

__all__ = ["AssignmentCheck", "AuditedOperation", "catalogue_check", "run_operation"]

#: Checks a role change before it is written; raises a ``SchoolsyncError`` naming the reason
#: it is refused.
AssignmentCheck = Callable[[], None]


@attrs.define
class AuditedOperation:
    """One unit of work at one moment by one actor: every write is audited in the same unit.

    Args:
        uow: the unit of work the records and events are written to (the caller commits).
            Role assignments take the trust's (and school's) lock in it; see :meth:`lock`.
        at: the moment of every change.
        actor_id: the account acting (``None``: the system).
        new_event_id: makes audit event ids.
    """

    uow: UnitOfWork
    at: datetime
    actor_id: str | None
    new_event_id: Callable[[], str]
    #: The audit events written so far, in order.
    events: list[AuditEvent] = attrs.field(factory=list)
    #: Messages queued for delivery after the commit.
    messages: list[OutboundMessage] = attrs.field(factory=list)
    #: ``False`` for a dry run that is rolled back (a preview): :meth:`lock` takes nothing.
    take_locks: bool = True
    #: The trusts and schools this operation has locked (:meth:`lock`).
    trusts_locked: set[str] = attrs.field(factory=set)
    schools_locked: set[str] = attrs.field(factory=set)

    def write(
        self,
        before: Any,
        after: Any,
        *,
        action: AuditAction | None = None,
        trust_id: str | None = None,
        account_id: str | None = None,
    ) -> AuditEvent:
        """Store *after* (added when *before* is ``None``, else replacing it) and audit it."""
        repository = repository_for(self.uow, kind_of_record(after))
        if before is None:
            repository.add(after)
        else:
            repository.put(after)
        return self.audit(before, after, action=action, trust_id=trust_id, account_id=account_id)

    def remove(self, before: Any, *, action: AuditAction | None = None) -> AuditEvent:
        """Remove the record *before* and audit its removal."""
        repository_for(self.uow, kind_of_record(before)).remove(before.id)
        return self.audit(before, None, action=action)

    def audit(
        self,
        before: Any,
        after: Any,
        *,
        action: AuditAction | None = None,
        trust_id: str | None = None,
        account_id: str | None = None,
    ) -> AuditEvent:
        """Append the audit event of a change of *before* into *after* (ids only).

        *trust_id* and *account_id* name the trust and account a record that does not hang on
        one (a school; a trust's admin) is changed for.
        """
        event = record_event(
            kind_of_record(after if after is not None else before),
            before,
            after,
            at=self.at,
            actor_id=self.actor_id,
            action=action,
            event_id=self.new_event_id(),
        )
        if (event.trust_id is None and trust_id is not None) or account_id is not None:
            event = attrs.evolve(
                event,
                trust_id=event.trust_id if event.trust_id is not None else trust_id,
                account_id=account_id if account_id is not None else event.account_id,
            )
        self.uow.audit.append(event)
        self.events.append(event)
        return event

    # -- locks -------------------------------------------------------------------------------

    def lock(self, *, trust_ids: Iterable[str] = (), school_ids: Iterable[str] = ()) -> None:
        """Take the write locks of *trust_ids* and then of *school_ids*, each in sorted order
        (the one lock order: trusts before schools), for the rest of the unit of work.

        Take them before reading what the change depends on: what is read after the lock is
        what the change is judged on (a token still unused, a cap's current holders).
        Locks already held are not taken again; a dry run (``take_locks=False``) takes none.

        Raises:
            ConcurrentWriteError: another writer held a lock for longer than the store waits
                (or, for stores that do not wait, held it at all).
        """
        if not self.take_locks:
            return
        for trust_id in sorted(set(trust_ids) - self.trusts_locked):
            self.uow.lock_trust(trust_id)
            self.trusts_locked.add(trust_id)
        for school_id in sorted(set(school_ids) - self.schools_locked):
            self.uow.lock_school(school_id)
            self.schools_locked.add(school_id)

    # -- the one write path for role assignments --------------------------------------------

    def assign_role(
        self,
        *,
        account_id: str,
        trust_id: str,
        role: str,
        school_id: str | None,
        new_id: Callable[[], str],
        assigned_by: str | None,
        check: AssignmentCheck | None = None,
        action: AuditAction = AuditAction.ROLE_ASSIGNED,
    ) -> RoleAssignment:
        """Check, write and audit a new role assignment (``ROLE_ASSIGNED``); returns it.

        The trust's lock (and the school's, for a school role) is taken first, if the caller
        has not taken it already, so that *check* (a cap, "exactly one") counts the holders
        under the lock. *check* runs then (nothing is written if it raises); *new_id* then
        makes the assignment's id. *assigned_by* is the account the assignment is recorded as
        given by.
        """
        self.lock(trust_ids=(trust_id,), school_ids=() if school_id is None else (school_id,))
        if check is not None:
            check()
        record = RoleAssignment(
            id=new_id(),
            account_id=account_id,
            trust_id=trust_id,
            role=role,
            school_id=school_id,
            assigned_by=assigned_by,
            assigned_at=self.at,
        )
        self.write(None, record, action=action)
        return record

    def unassign_role(
        self,
        record: RoleAssignment,
        *,
        check: AssignmentCheck | None = None,
        action: AuditAction = AuditAction.ROLE_REMOVED,
    ) -> AuditEvent:
        """Check, remove and audit a role assignment (``ROLE_REMOVED``), under the trust's
        (and school's) lock as :meth:`assign_role`."""
        school_ids = () if record.school_id is None else (record.school_id,)
        self.lock(trust_ids=(record.trust_id,), school_ids=school_ids)
        if check is not None:
            check()
        return self.remove(record, action=action)

    # -- after the commit --------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> None:
        """Queue *message* for delivery after the commit."""
        self.messages.append(message)

    def deliver(self, notifier: Notifier) -> None:
        """Send the queued messages (call once the unit of work has committed)."""
        for message in self.messages:
            notifier.send(message)


def catalogue_check(
    catalogue: RoleCatalogue,
    op: AuditedOperation,
    *,
    account_id: str,
    role: str,
    school_id: str | None,
) -> AssignmentCheck:
    """The role catalogue's checks of giving *role* to *account_id* at *school_id*, over the
    records of *op*'s unit of work (:meth:`~schoolsync.access.AccessAdmin.check_assignment`:
    scope, requirements, caps; the system acting, so delegation is the host's to judge)."""

    def check() -> None:
        records = AccessRecords.from_unit_of_work(op.uow)
        admin = AccessAdmin(AccessIndex.build(catalogue, records, now=op.at))
        admin.check_assignment(actor_id=None, account_id=account_id, role=role, school_id=school_id)

    return check


@contextmanager
def run_operation(
    store: Store, *, at: datetime, actor_id: str | None, new_event_id: Callable[[], str]
) -> Iterator[AuditedOperation]:
    """Run the body as one :class:`AuditedOperation` on a new unit of work and commit it.

    An exception in the body rolls everything back. Queued messages are the caller's to
    :meth:`~AuditedOperation.deliver` after the ``with`` block.
    """
    with store.unit_of_work() as uow:
        op = AuditedOperation(uow=uow, at=at, actor_id=actor_id, new_event_id=new_event_id)
        yield op
        uow.commit()
