"""School-to-trust grants: given, narrowed and revoked by the school; expiry reported; and
the memberships and grants rebuilt from the audit log."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

import attrs

from schoolsync.access._lifecycle_base import (
    GrantChanged,
    GrantChangeKind,
    LifecycleBase,
)
from schoolsync.access.grants import Grant
from schoolsync.errors import (
    ConflictError,
    ValidationError,
)
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.serialisation import converter
from schoolsync.trusts import (
    Membership,
    MembershipStatus,
)


def narrowed_scope(
    grant: Grant,
    *,
    permissions: Collection[str] | None = None,
    account_ids: Collection[str] | None = None,
) -> tuple[frozenset[str], frozenset[str] | None]:
    """The scope of *grant* narrowed to *permissions* and/or *account_ids* (``None``: keep).

    Raises:
        ValidationError: if the new scope is not inside the old one (narrowing never widens).
    """
    new_permissions = grant.permissions if permissions is None else frozenset(permissions)
    extra = new_permissions - grant.permissions
    if extra:
        raise ValidationError(
            "permissions", sorted(extra), "narrowing cannot add permissions; grant them anew"
        )
    if not new_permissions:
        raise ValidationError("permissions", [], "a narrowed grant keeps at least one permission")
    if account_ids is None:
        new_accounts = grant.account_ids
    else:
        new_accounts = frozenset(account_ids)
        if not new_accounts:
            raise ValidationError("account_ids", [], "name at least one account, or revoke")
        if grant.account_ids is not None and not new_accounts <= grant.account_ids:
            raise ValidationError(
                "account_ids",
                sorted(new_accounts - grant.account_ids),
                "narrowing cannot add accounts; grant them anew",
            )
    return new_permissions, new_accounts


@attrs.frozen(kw_only=True)
class ReplayedState:
    """Memberships and grants rebuilt from the audit log, by id."""

    memberships: dict[str, Membership]
    grants: dict[str, Grant]


def replay_memberships_and_grants(events: Iterable[AuditEvent]) -> ReplayedState:
    """Rebuild every membership and grant from audit events, oldest first.

    Each ``membership`` or ``grant`` event's ``after`` is the record's new state (``None`` when
    it was deleted), so folding the events from empty gives the current records.
    """
    memberships: dict[str, Membership] = {}
    grants: dict[str, Grant] = {}
    for event in events:
        if event.subject_kind == "membership":
            if event.after is None:
                memberships.pop(event.subject_id, None)
            else:
                memberships[event.subject_id] = converter.structure(event.after, Membership)
        elif event.subject_kind == "grant":
            if event.after is None:
                grants.pop(event.subject_id, None)
            else:
                grants[event.subject_id] = converter.structure(event.after, Grant)
    return ReplayedState(memberships=memberships, grants=grants)


class Grants(LifecycleBase):
    """Give, narrow, revoke and expire school-to-trust grants."""

    __slots__ = ()

    def grant(
        self,
        trust_id: str,
        school_id: str,
        permissions: Collection[str],
        *,
        actor_id: str,
        account_ids: Collection[str] | None = None,
        expires_at: datetime | None = None,
    ) -> Grant:
        """The school grants its trust *permissions*: to the whole trust, or to named accounts.

        The two models differ for a trust admin added later: a grant to the whole trust
        (``account_ids=None``) covers every trust account, including ones added after it; a
        grant naming accounts covers only those, so a newcomer holds nothing at the school
        until the school grants it too (the Boost Insights rule). A host that wants only the
        second model sets :attr:`TrustPolicy.whole_trust_grants` to ``False``.

        Raises:
            AccessDeniedError: *actor_id* is not an active acceptor at the school.
            ConflictError: the school is not an accepted member of the trust.
            ValidationError: no permissions, no accounts named (or none when the policy
                requires them), an account of another trust, or an expiry in the past.
        """
        perms = frozenset(permissions)
        with self._operation(actor_id, trust_ids=(trust_id,), school_ids=(school_id,)) as op:
            if not perms:
                raise ValidationError("permissions", [], "a grant needs at least one permission")
            if expires_at is not None and expires_at <= op.at:
                raise ValidationError("expires_at", expires_at.isoformat(), "already in the past")
            if account_ids is None and not self.policy.whole_trust_grants:
                raise ValidationError(
                    "account_ids",
                    None,
                    "this host's grants name trust accounts; grants to the whole trust are off",
                    code="whole_trust_grants_off",
                )
            self._require_school_consent(op.uow, actor_id, school_id)
            membership = self._membership_of(op.uow, trust_id, school_id)
            if membership is None or membership.status is not MembershipStatus.ACCEPTED:
                raise ConflictError(
                    f"school {school_id!r} is not an accepted member of trust {trust_id!r}"
                )
            accounts: frozenset[str] | None = None
            if account_ids is not None:
                accounts = frozenset(account_ids)
                if not accounts:
                    raise ValidationError("account_ids", [], "name at least one account")
                for account_id in sorted(accounts):
                    if op.uow.accounts.require(account_id).trust_id != trust_id:
                        raise ValidationError(
                            "account_ids", account_id, "not an account of this trust"
                        )
            grant = Grant(
                id=self.new_id("grant"),
                trust_id=trust_id,
                school_id=school_id,
                permissions=perms,
                account_ids=accounts,
                granted_by=actor_id,
                granted_at=op.at,
                expires_at=expires_at,
            )
            op.write(None, grant, action=AuditAction.GRANT_CREATED)
            op.tell(GrantChangeKind.GRANTED, grant, permissions_removed=frozenset())
        return grant

    def narrow_grant(
        self,
        grant_id: str,
        *,
        actor_id: str,
        permissions: Collection[str] | None = None,
        account_ids: Collection[str] | None = None,
    ) -> Grant:
        """Narrow a live grant at once: the old grant is revoked and a narrower one replaces it.

        Returns the replacement (or the grant itself if the scope is unchanged).

        Raises:
            AccessDeniedError: *actor_id* is not an active acceptor at the school.
            ConflictError: the grant is no longer live.
            ValidationError: the new scope is not inside the old one.
        """
        with self._operation(actor_id) as op:
            old = self._locked_grant(op, grant_id)
            self._require_school_consent(op.uow, actor_id, old.school_id)
            if not old.is_live(op.at):
                raise ConflictError(f"grant {grant_id!r} is no longer live")
            new_permissions, new_accounts = narrowed_scope(
                old, permissions=permissions, account_ids=account_ids
            )
            if new_permissions == old.permissions and new_accounts == old.account_ids:
                return old
            replacement = attrs.evolve(
                old,
                id=self.new_id("grant"),
                permissions=new_permissions,
                account_ids=new_accounts,
                granted_by=actor_id,
                granted_at=op.at,
                revoked_at=None,
            )
            op.write(old, attrs.evolve(old, revoked_at=op.at), action=AuditAction.GRANT_NARROWED)
            op.write(None, replacement, action=AuditAction.GRANT_CREATED)
            # Accounts dropped from the grant lost everything it gave them.
            lost_accounts = new_accounts != old.account_ids
            op.tell(
                GrantChangeKind.NARROWED,
                old,
                permissions_removed=old.permissions
                if lost_accounts
                else old.permissions - new_permissions,
                replaced_by=replacement.id,
            )
        return replacement

    def revoke_grant(self, grant_id: str, *, actor_id: str) -> Grant:
        """Revoke a grant at once; decisions from now on deny and listeners are told.

        Revoking a grant that is already revoked changes nothing.

        Raises:
            AccessDeniedError: *actor_id* is not an active acceptor at the school.
        """
        with self._operation(actor_id) as op:
            old = self._locked_grant(op, grant_id)
            self._require_school_consent(op.uow, actor_id, old.school_id)
            if old.revoked_at is not None:
                return old
            revoked = attrs.evolve(old, revoked_at=op.at)
            op.write(old, revoked, action=AuditAction.GRANT_REVOKED)
            op.tell(GrantChangeKind.REVOKED, old)
        return revoked

    def expire_grants(self) -> list[GrantChanged]:
        """Report every grant whose expiry has passed since the last call.

        An expired grant already denies by itself (:meth:`Grant.is_live`); this sweep writes
        one ``grant.expired`` audit event per grant and tells the listeners, so hosts drop
        cached views. Returns the events published.
        """
        with self._operation(None) as op:
            # Lock every trust with a grant, then read the grants again under the locks.
            op.lock(trust_ids={g.trust_id for g in op.uow.grants.list()})
            for grant in op.uow.grants.list():
                if grant.revoked_at is not None or grant.expires_at is None:
                    continue
                if grant.expires_at > op.at:
                    continue
                reported = any(
                    e.subject_id == grant.id and e.action == AuditAction.GRANT_EXPIRED
                    for e in op.uow.audit.events(school_id=grant.school_id, since=grant.expires_at)
                )
                if not reported:
                    op.audit(
                        grant, grant, action=AuditAction.GRANT_EXPIRED
                    )  # the record is unchanged
                    op.tell(GrantChangeKind.EXPIRED, grant)
        return list(op.changes)
