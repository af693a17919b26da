"""School membership of a trust: adding schools (one or from a School Upload sheet),
invitations, and the school's answer; a membership that ends ends every grant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import attrs

from schoolsync.access._lifecycle_base import (
    GrantChangeKind,
    LifecycleBase,
    _Operation,
)
from schoolsync.access.accounts import AccountStatus
from schoolsync.errors import (
    ConflictError,
    NotFoundError,
)
from schoolsync.ports import OutboundMessage
from schoolsync.records.audit import AuditAction
from schoolsync.trusts import (
    ENDED_STATUSES,
    Membership,
    MembershipStatus,
    PlannedSchool,
    School,
    SchoolUploadPlan,
    SchoolUploadRow,
    accept_invitation,
    decline_invitation,
    end_membership,
    expire_invitation,
    invitation_has_expired,
    plan_school_upload,
    send_invitation,
    validate_school,
)


@attrs.frozen(kw_only=True)
class SchoolUploadResult:
    """What :meth:`TrustLifecycle.add_schools_from_upload` did.

    ``schools`` the schools created, ``memberships`` the memberships created for this trust,
    ``skipped`` the rows naming schools already in (or invited to) the trust, ``plan`` the full
    validation result (its ``problems`` are the rows left out when valid rows were accepted).
    """

    schools: tuple[School, ...]
    memberships: tuple[Membership, ...]
    skipped: tuple[PlannedSchool, ...]
    plan: SchoolUploadPlan


class Memberships(LifecycleBase):
    """Add schools, invite them, and record their answers."""

    __slots__ = ()

    def add_school(
        self, trust_id: str, school: School, *, actor_id: str | None = None
    ) -> Membership:
        """Add *school* to the trust (creating the school record if new): invitation not sent.

        A school that was in the trust before (declined, expired, left, removed) gets its
        membership back as "invitation not sent".

        Raises:
            ValidationError: the school breaks the URN rule (see :func:`validate_school`).
            ConflictError: the school is already an accepted member of another trust, or is
                already in (or invited to) this one.
        """
        validate_school(school, self.policy)
        with self._operation(actor_id, trust_ids=(trust_id,), school_ids=(school.id,)) as op:
            op.uow.trusts.require(trust_id)
            return self._add_school(op, trust_id, school)

    def _add_school(self, op: _Operation, trust_id: str, school: School) -> Membership:
        if op.uow.schools.get(school.id) is None:
            op.write(None, school, action=AuditAction.SCHOOL_CREATED, trust_id=trust_id)
        others = [
            m
            for m in op.uow.memberships.list(school_id=school.id)
            if m.trust_id != trust_id and m.status is MembershipStatus.ACCEPTED
        ]
        if others:
            raise ConflictError(f"school {school.id!r} is already in trust {others[0].trust_id!r}")
        existing = self._membership_of(op.uow, trust_id, school.id)
        if existing is not None and existing.status not in ENDED_STATUSES:
            raise ConflictError(
                f"school {school.id!r} is already in trust {trust_id!r} ({existing.status.value})"
            )
        membership = Membership(
            id=existing.id if existing is not None else self.new_id("membership"),
            trust_id=trust_id,
            school_id=school.id,
        )
        op.write(existing, membership, action=AuditAction.MEMBERSHIP_CREATED)
        return membership

    def add_schools_from_upload(
        self,
        trust_id: str,
        rows: Sequence[SchoolUploadRow],
        *,
        file: str = "School Upload",
        accept_valid_rows: bool = False,
        actor_id: str | None = None,
    ) -> SchoolUploadResult:
        """Add the schools of a School Upload sheet to the trust, all or nothing.

        Every row is validated first (:func:`~schoolsync.trusts.plan_school_upload`). If any
        row is bad nothing is created and every problem is raised at once, unless
        *accept_valid_rows* is true: then the valid rows are added and the bad ones are left in
        ``result.plan.problems``. Rows naming schools already in the trust are skipped.

        Raises:
            ProblemsError: one :class:`~schoolsync.errors.FileFormatError` per bad row.
        """
        with self._operation(actor_id, trust_ids=(trust_id,)) as op:
            op.uow.trusts.require(trust_id)
            plan = plan_school_upload(
                rows,
                file=file,
                trust_id=trust_id,
                schools=op.uow.schools.list(),
                memberships=op.uow.memberships.list(),
                policy=self.policy,
                new_id=lambda: self.new_id("school"),
            )
            if not plan.ok and not accept_valid_rows:
                plan.raise_for_problems()
            skipped = tuple(p for p in plan.valid if p.already_in_trust)
            to_add = [p for p in plan.valid if not p.already_in_trust]
            # Each school's other memberships are read again under its lock (_add_school).
            op.lock(school_ids={p.school.id for p in to_add})
            memberships = tuple(self._add_school(op, trust_id, p.school) for p in to_add)
        return SchoolUploadResult(
            schools=tuple(p.school for p in to_add if p.is_new),
            memberships=memberships,
            skipped=skipped,
            plan=plan,
        )

    def send_invitation(self, membership_id: str, *, actor_id: str | None = None) -> Membership:
        """Send (or re-send) the membership invitation to the school's Access Coordinator(s).

        One :class:`~schoolsync.ports.OutboundMessage` of kind ``"trust_invitation"`` goes to
        each active account holding an acceptor role at the school.

        Raises:
            MembershipStateError: the school is already a member.
            NotFoundError: the school has no active Access Coordinator/Administrator to invite.
        """
        with self._operation(actor_id) as op:
            before = self._locked_membership(op, membership_id)
            trust = op.uow.trusts.require(before.trust_id)
            after = send_invitation(before, at=op.at, valid_for=self.policy.invitation_valid_for)
            recipients = {}
            for a in op.uow.assignments.list(school_id=before.school_id):
                if not self._is_acceptor_role(a.role):
                    continue
                account = op.uow.accounts.get(a.account_id)
                if account is not None and account.status is AccountStatus.ACTIVE:
                    recipients[account.id] = account
            if not recipients:
                raise NotFoundError("access coordinator of school", before.school_id)
            resend = before.status is MembershipStatus.INVITATION_SENT
            op.write(
                before,
                after,
                action=AuditAction.MEMBERSHIP_INVITATION_RESENT
                if resend
                else AuditAction.MEMBERSHIP_INVITATION_SENT,
            )
            assert after.invitation_expires_at is not None
            for account in recipients.values():
                op.send(
                    OutboundMessage(
                        kind="trust_invitation",
                        to=account.email,
                        subject=f"{trust.name} invites your school to join",
                        data={
                            "trust_id": trust.id,
                            "school_id": after.school_id,
                            "membership_id": after.id,
                            "account_id": account.id,
                            "expires_at": after.invitation_expires_at.isoformat(),
                        },
                    )
                )
        return after

    def _change_membership(
        self,
        membership_id: str,
        change: Callable[[Membership, datetime], Membership],
        *,
        action: AuditAction,
        actor_id: str | None,
        needs_consent: bool,
    ) -> Membership:
        """Apply the pure *change* to a membership; a change that ends it ends every grant the
        school gave the trust (one ``grant.ended`` event each)."""
        with self._operation(actor_id) as op:
            before = self._locked_membership(op, membership_id)
            if needs_consent:
                assert actor_id is not None
                self._require_school_consent(op.uow, actor_id, before.school_id)
            after = change(before, op.at)
            op.write(before, after, action=action)
            if after.status in (MembershipStatus.LEFT, MembershipStatus.REMOVED):
                for grant in op.uow.grants.list(school_id=before.school_id):
                    if grant.trust_id == before.trust_id and grant.revoked_at is None:
                        op.write(
                            grant,
                            attrs.evolve(grant, revoked_at=op.at),
                            action=AuditAction.GRANT_ENDED,
                        )
                        op.tell(GrantChangeKind.ENDED, grant)
        return after

    def accept_invitation(self, membership_id: str, *, actor_id: str) -> Membership:
        """The school's Access Coordinator (or Administrator) *actor_id* accepts the invitation.

        Raises:
            AccessDeniedError: *actor_id* is not an active acceptor at the school.
            MembershipStateError: no invitation is open (not sent, already answered, expired).
        """
        return self._change_membership(
            membership_id,
            lambda m, at: accept_invitation(m, actor_id=actor_id, at=at),
            action=AuditAction.MEMBERSHIP_ACCEPTED,
            actor_id=actor_id,
            needs_consent=True,
        )

    def decline_invitation(self, membership_id: str, *, actor_id: str) -> Membership:
        """The school's Access Coordinator (or Administrator) *actor_id* declines the invitation.

        Raises:
            AccessDeniedError: *actor_id* is not an active acceptor at the school.
            MembershipStateError: no invitation is open.
        """
        return self._change_membership(
            membership_id,
            lambda m, at: decline_invitation(m, at=at),
            action=AuditAction.MEMBERSHIP_DECLINED,
            actor_id=actor_id,
            needs_consent=True,
        )

    def leave_trust(self, membership_id: str, *, actor_id: str) -> Membership:
        """The school leaves its trust; every grant it gave the trust ends at once.

        Raises:
            AccessDeniedError: *actor_id* is not an active acceptor at the school.
            MembershipStateError: the school is not a member.
        """
        return self._change_membership(
            membership_id,
            lambda m, at: end_membership(m, at=at, status=MembershipStatus.LEFT),
            action=AuditAction.MEMBERSHIP_LEFT,
            actor_id=actor_id,
            needs_consent=True,
        )

    def remove_school(self, membership_id: str, *, actor_id: str | None = None) -> Membership:
        """The trust removes a school (or withdraws its invitation); every grant it gave ends.

        Raises:
            MembershipStateError: the membership has already ended.
        """
        return self._change_membership(
            membership_id,
            lambda m, at: end_membership(m, at=at, status=MembershipStatus.REMOVED),
            action=AuditAction.MEMBERSHIP_REMOVED,
            actor_id=actor_id,
            needs_consent=False,
        )

    def expire_invitations(self, trust_id: str | None = None) -> list[Membership]:
        """Mark every sent invitation past its expiry as expired; returns the changed memberships."""
        changed: list[Membership] = []
        with self._operation(None) as op:
            # Lock the trusts concerned, then read the memberships again under the locks.
            op.lock(
                trust_ids={
                    m.trust_id
                    for m in op.uow.memberships.list()
                    if trust_id is None or m.trust_id == trust_id
                }
            )
            for before in op.uow.memberships.list():
                if trust_id is not None and before.trust_id != trust_id:
                    continue
                if invitation_has_expired(before, op.at):
                    after = expire_invitation(before, at=op.at)
                    op.write(before, after, action=AuditAction.MEMBERSHIP_EXPIRED)
                    changed.append(after)
        return changed
