"""The shared part of the trust lifecycle service: its settings, one audited operation per
call (grant events published after the commit) and who may consent for a school."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import attrs

from schoolsync.access.accounts import AccountStatus
from schoolsync.access.catalogue import RoleCatalogue, RoleScope
from schoolsync.access.grants import Grant
from schoolsync.access.operation import AuditedOperation
from schoolsync.errors import (
    AccessDeniedError,
    ValidationError,
)
from schoolsync.ids import SYSTEM_TOKENS, RandomIds
from schoolsync.ports import Clock, Notifier, Store, UnitOfWork
from schoolsync.trusts import (
    Membership,
    TrustPolicy,
)


class GrantChangeKind(StrEnum):
    """Why a grant changed."""

    GRANTED = "granted"
    NARROWED = "narrowed"
    REVOKED = "revoked"
    EXPIRED = "expired"
    ENDED = "ended"  # the school left or was removed from the trust


@attrs.frozen(kw_only=True)
class GrantChanged:
    """A grant changed: hosts drop cached views of ``school_id`` for ``trust_id`` on receipt.

    ``account_ids`` are the trust accounts the old grant named (``None``: the whole trust);
    ``permissions_removed`` what the trust can no longer do there through this grant;
    ``replaced_by`` the id of the narrower grant that replaced a narrowed one.
    """

    kind: GrantChangeKind
    at: datetime
    trust_id: str
    school_id: str
    grant_id: str
    account_ids: frozenset[str] | None = None
    permissions_removed: frozenset[str] = frozenset()
    replaced_by: str | None = None


class GrantListener(Protocol):
    """Told about every grant change after it is committed (e.g. to drop cached views)."""

    def grant_changed(self, event: GrantChanged) -> None:
        """React to *event*; must not raise (the change is already committed)."""
        ...


@attrs.define
class RecordingGrantListener:
    """A :class:`GrantListener` that keeps every event in ``events`` (for tests and demos)."""

    events: list[GrantChanged] = attrs.field(factory=list)

    def grant_changed(self, event: GrantChanged) -> None:
        """Record *event*."""
        self.events.append(event)


def _default_new_id(kind: str) -> str:
    return f"{kind}-{RandomIds().new_id()[:16]}"


def _default_token() -> str:
    return SYSTEM_TOKENS.token_urlsafe(32)


def _grant_event(
    kind: GrantChangeKind,
    grant: Grant,
    at: datetime,
    *,
    permissions_removed: frozenset[str] | None = None,
    replaced_by: str | None = None,
) -> GrantChanged:
    """The event for a change to *grant* (by default it removed all the grant's permissions)."""
    return GrantChanged(
        kind=kind,
        at=at,
        trust_id=grant.trust_id,
        school_id=grant.school_id,
        grant_id=grant.id,
        account_ids=grant.account_ids,
        permissions_removed=grant.permissions
        if permissions_removed is None
        else permissions_removed,
        replaced_by=replaced_by,
    )


@attrs.define
class _Operation(AuditedOperation):
    """One unit of work of :class:`TrustLifecycle`: an :class:`AuditedOperation` that also
    queues grant events (:meth:`tell`), published only once the unit of work has committed."""

    changes: list[GrantChanged] = attrs.field(factory=list)

    def tell(
        self,
        kind: GrantChangeKind,
        grant: Grant,
        *,
        permissions_removed: frozenset[str] | None = None,
        replaced_by: str | None = None,
    ) -> None:
        """Queue the :class:`GrantChanged` event for *grant* (published after the commit)."""
        self.changes.append(
            _grant_event(
                kind,
                grant,
                self.at,
                permissions_removed=permissions_removed,
                replaced_by=replaced_by,
            )
        )


@attrs.define
class LifecycleBase:
    """The settings and shared steps of :class:`~schoolsync.access.lifecycle.TrustLifecycle`."""

    store: Store
    clock: Clock
    notifier: Notifier
    policy: TrustPolicy = attrs.field(factory=TrustPolicy)
    listeners: list[GrantListener] = attrs.field(factory=list)
    _trust_admin_role: str | None = attrs.field(default=None, alias="trust_admin_role")
    catalogue: RoleCatalogue | None = None
    new_id: Callable[[str], str] = _default_new_id
    new_token: Callable[[], str] = _default_token

    def __attrs_post_init__(self) -> None:
        if self.catalogue is None:
            return
        named = self._trust_admin_role or self.catalogue.trust_admin_role
        if named is None:
            return  # a catalogue without trust admins (FFT Aspire): refused when used
        role = self.catalogue.roles.get(named)
        if role is None or role.scope is not RoleScope.TRUST:
            raise ValueError(f"trust_admin_role {named!r} must be a trust role of the catalogue")

    @property
    def trust_admin_role(self) -> str:
        """The trust role an accepted trust admin is given: the one named at construction, else
        the catalogue's (:attr:`RoleCatalogue.trust_admin_role`, set by the presets), else
        ``"trust_admin"`` (without a catalogue).

        Raises:
            ValidationError: the catalogue names no trust admin role and none was given.
        """
        if self._trust_admin_role is not None:
            return self._trust_admin_role
        if self.catalogue is None:
            return "trust_admin"
        if self.catalogue.trust_admin_role is None:
            raise ValidationError(
                "trust_admin_role",
                None,
                f"the role catalogue {self.catalogue.name!r} names no trust admin role",
            )
        return self.catalogue.trust_admin_role

    # -- the shape of every operation ----------------------------------------------------------

    @contextmanager
    def _operation(
        self,
        actor_id: str | None,
        *,
        trust_ids: Iterable[str] = (),
        school_ids: Iterable[str] = (),
    ) -> Iterator[_Operation]:
        """Read the clock once, lock *trust_ids* then *school_ids* (before the body reads
        anything), run the body in one unit of work and commit; then send the queued
        messages and publish the queued grant events. An exception in the body rolls
        everything back and nothing is sent."""
        with self.store.unit_of_work() as uow:
            op = _Operation(
                uow=uow,
                at=self.clock.now(),
                actor_id=actor_id,
                new_event_id=lambda: self.new_id("audit"),
            )
            op.lock(trust_ids=trust_ids, school_ids=school_ids)
            yield op
            self._before_commit(op)
            uow.commit()
        op.deliver(self.notifier)
        self._publish(op.changes)

    def _before_commit(self, op: _Operation) -> None:
        """Called inside the unit of work once the body succeeded, just before the commit
        (a host service may queue the operation's messages in the same unit of work here)."""

    def _publish(self, events: Sequence[GrantChanged]) -> None:
        """Tell every listener about every event, even if one of them fails; then re-raise."""
        failures: list[Exception] = []
        for event in events:
            for listener in self.listeners:
                try:
                    listener.grant_changed(event)
                except Exception as exc:  # a listener's failure must not hide the others
                    failures.append(exc)
        if failures:
            first = failures[0]
            first.add_note(
                f"the grant change was committed; {len(failures)} listener call(s) failed after it"
            )
            raise first

    # -- who may consent for a school --------------------------------------------------------

    def _acceptor_role_names(self) -> set[str]:
        names = set(self.policy.acceptor_roles)
        if self.catalogue is not None and self.catalogue.grant_permission is not None:
            names.update(
                self.catalogue.roles_granting(self.catalogue.grant_permission, RoleScope.SCHOOL)
            )
        return names

    def _is_acceptor_role(self, role: str) -> bool:
        """The policy's acceptor roles, plus (with a catalogue) every school role holding the
        catalogue's ``grant_permission``."""
        if self.policy.is_acceptor_role(role):
            return True
        return self.catalogue is not None and role in self._acceptor_role_names()

    def _require_school_consent(self, uow: UnitOfWork, account_id: str, school_id: str) -> None:
        """Only an active acceptor (Access Coordinator / Administrator) of the school consents."""
        account = uow.accounts.get(account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            raise AccessDeniedError(
                f"account {account_id!r} is not an active account; it cannot act for "
                f"school {school_id!r}"
            )
        roles = {
            a.role for a in uow.assignments.list(school_id=school_id) if a.account_id == account_id
        }
        if not any(self._is_acceptor_role(role) for role in roles):
            raise AccessDeniedError(
                f"account {account_id!r} holds none of the roles "
                f"{sorted(self._acceptor_role_names())} at school {school_id!r}; only the "
                "school's Access Coordinator or Administrator can do this"
            )

    @staticmethod
    def _locked_membership(op: _Operation, membership_id: str) -> Membership:
        """The membership, read again after locking its trust and school (the lock is found
        from a first read; a membership never changes trust or school)."""
        found = op.uow.memberships.require(membership_id)
        op.lock(trust_ids=(found.trust_id,), school_ids=(found.school_id,))
        return op.uow.memberships.require(membership_id)

    @staticmethod
    def _locked_grant(op: _Operation, grant_id: str) -> Grant:
        """The grant, read again after locking its trust and school."""
        found = op.uow.grants.require(grant_id)
        op.lock(trust_ids=(found.trust_id,), school_ids=(found.school_id,))
        return op.uow.grants.require(grant_id)

    @staticmethod
    def _membership_of(uow: UnitOfWork, trust_id: str, school_id: str) -> Membership | None:
        for m in uow.memberships.list(school_id=school_id):
            if m.trust_id == trust_id:
                return m
        return None
