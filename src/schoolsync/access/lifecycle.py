"""The trust lifecycle service: set-up, trust admins, school membership and school-to-trust grants.

Every operation is one unit of work on a :class:`~schoolsync.ports.Store`: it reads the records,
applies the pure rules of :mod:`schoolsync.trusts`, writes the changed records and an
:class:`~schoolsync.audit.AuditEvent` per membership, grant and trust change (identifiers only;
``before``/``after`` are records unstructured by :data:`schoolsync.serialisation.converter`),
and commits. Only after the commit are :class:`GrantChanged` events published to the
:class:`GrantListener` objects the host registered, so a host drops a cached view only once the
change is visible to everyone.

What revocation does, and does not do: revoking or narrowing a grant (and a school leaving or
being removed from its trust) takes effect at once for every decision made through schoolsync
afterwards, and a :class:`GrantChanged` event tells the host to drop cached views and reports.
It cannot reach data already shown or downloaded: a report a trust admin downloaded before the
revocation stays on their computer.

Consent comes from the school: accepting or declining an invitation, leaving a trust and giving,
narrowing or revoking a grant must be done by an active account holding one of
:attr:`TrustPolicy.acceptor_roles` at that school (its Access Coordinator or Administrator),
or, when the service has the host's role catalogue, a school role holding the catalogue's
``grant_permission``.
Trust-side steps (creating a trust, nominating admins, adding schools, sending invitations,
removing a school) are recorded with the acting account, and are the host's to authorise.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import attrs

from schoolsync.access.accounts import AccountStatus
from schoolsync.access.caps import check_role_caps, check_trust_admin_places, role_holders
from schoolsync.access.catalogue import RoleCatalogue, RoleScope
from schoolsync.access.grants import Grant
from schoolsync.access.operation import AuditedOperation, catalogue_check
from schoolsync.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    ProblemsError,
    ValidationError,
)
from schoolsync.identifiers import Urn
from schoolsync.ids import SYSTEM_TOKENS, RandomIds
from schoolsync.ports import Clock, Notifier, OutboundMessage, Store, UnitOfWork
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.serialisation import converter
from schoolsync.trusts import (
    ENDED_STATUSES,
    Membership,
    MembershipStatus,
    PlannedSchool,
    School,
    SchoolUploadPlan,
    SchoolUploadRow,
    Trust,
    TrustAdminNomination,
    TrustAdminTokenError,
    TrustKind,
    TrustPolicy,
    accept_invitation,
    decline_invitation,
    end_membership,
    expire_invitation,
    hash_token,
    invitation_has_expired,
    plan_school_upload,
    record_urn_change,
    send_invitation,
    token_matches,
    validate_school,
)

__all__ = [
    "GrantChangeKind",
    "GrantChanged",
    "GrantListener",
    "RecordingGrantListener",
    "ReplayedState",
    "SchoolUploadResult",
    "TrustLifecycle",
    "narrowed_scope",
    "replay_memberships_and_grants",
]


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


def _default_new_id(kind: str) -> str:
    return f"{kind}-{RandomIds().new_id()[:16]}"


def _default_token() -> str:
    return SYSTEM_TOKENS.token_urlsafe(32)


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


# ---------------------------------------------------------------------------------------------
# One operation of the service: a unit of work whose writes are audited, and whose messages and
# grant events go out only after the commit.
# ---------------------------------------------------------------------------------------------


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
class TrustLifecycle:
    """Trust set-up, trust admins, memberships and grants as one consistent, audited service.

    Args:
        store: where records live; each operation is one unit of work.
        clock: the time source (``now`` is read once per operation).
        notifier: delivers invitations and admin nominations (the library sends no email).
        policy: the host's switches (:class:`~schoolsync.trusts.TrustPolicy`).
        listeners: told about every committed :class:`GrantChanged`.
        trust_admin_role: the trust role an accepted trust admin is assigned (e.g.
            ``"Group Admin"`` with the Boost Insights preset).
        catalogue: the host's role catalogue, if any: every school role holding its
            ``grant_permission`` may then also accept invitations and give grants.
        new_id: makes record ids, given the record kind.
        new_token: makes acceptance tokens (256 random bits by default).
    """

    store: Store
    clock: Clock
    notifier: Notifier
    policy: TrustPolicy = attrs.field(factory=TrustPolicy)
    listeners: list[GrantListener] = attrs.field(factory=list)
    trust_admin_role: str = "trust_admin"
    catalogue: RoleCatalogue | None = None
    new_id: Callable[[str], str] = _default_new_id
    new_token: Callable[[], str] = _default_token

    def __attrs_post_init__(self) -> None:
        if self.catalogue is None:
            return
        role = self.catalogue.roles.get(self.trust_admin_role)
        if role is None or role.scope is not RoleScope.TRUST:
            raise ValueError(
                f"trust_admin_role {self.trust_admin_role!r} must be a trust role of the catalogue"
            )

    # -- the shape of every operation ----------------------------------------------------------

    @contextmanager
    def _operation(self, actor_id: str | None) -> Iterator[_Operation]:
        """Read the clock once, run the body in one unit of work and commit; then send the
        queued messages and publish the queued grant events. An exception in the body rolls
        everything back and nothing is sent."""
        with self.store.unit_of_work() as uow:
            op = _Operation(
                uow=uow,
                at=self.clock.now(),
                actor_id=actor_id,
                new_event_id=lambda: self.new_id("audit"),
            )
            yield op
            uow.commit()
        op.deliver(self.notifier)
        self._publish(op.changes)

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
    def _membership_of(uow: UnitOfWork, trust_id: str, school_id: str) -> Membership | None:
        for m in uow.memberships.list(school_id=school_id):
            if m.trust_id == trust_id:
                return m
        return None

    # -- trusts and trust admins -----------------------------------------------------------

    def create_trust(
        self,
        *,
        name: str,
        kind: TrustKind = TrustKind.MULTI_ACADEMY_TRUST,
        organisation_type: str | None = None,
        designated_academy_trust: bool = False,
        max_trust_admins: int = 2,
        actor_id: str | None = None,
        trust_id: str | None = None,
    ) -> Trust:
        """Create a trust (or school group) with no schools and no admins yet.

        Raises:
            ValidationError: for a blank name or a cap below one.
        """
        if not name.strip():
            raise ValidationError("name", name, "a trust needs a name")
        if max_trust_admins < 1:
            raise ValidationError("max_trust_admins", max_trust_admins, "must be at least 1")
        trust = Trust(
            id=trust_id or self.new_id("trust"),
            name=" ".join(name.split()),
            kind=kind,
            organisation_type=organisation_type,
            designated_academy_trust=designated_academy_trust,
            max_trust_admins=max_trust_admins,
        )
        with self._operation(actor_id) as op:
            op.write(None, trust, action=AuditAction.TRUST_CREATED)
        return trust

    def nominate_trust_admin(
        self, trust_id: str, account_id: str, *, actor_id: str | None = None
    ) -> str:
        """Nominate *account_id* as a trust admin and email it a single-use acceptance link.

        Returns the token (also in the outbound message's ``data["token"]``); only its hash is
        stored. Open nominations and accepted admins together are capped at
        :attr:`Trust.max_trust_admins`; nominating the same account again replaces its open
        nomination (a fresh link).

        Raises:
            NotFoundError: unknown trust or account.
            CapExceededError: the trust already has its maximum of admins and open nominations
                (:func:`~schoolsync.access.caps.check_trust_admin_places`), or, with a
                :attr:`catalogue`, the trust admin role already has its maximum of holders.
            ConflictError: the account is already a trust admin.
            ValidationError: the account belongs to another trust, or the policy requires
                nominees registered with a school and this account holds no school role.
        """
        token = self.new_token()
        with self._operation(actor_id) as op:
            trust = op.uow.trusts.require(trust_id)
            account = op.uow.accounts.require(account_id)
            if account.trust_id != trust_id:
                raise ValidationError("account_id", account_id, "not an account of this trust")
            if account_id in trust.admin_account_ids():
                raise ConflictError(f"account {account_id!r} is already an admin of {trust_id!r}")
            if self.policy.admins_must_be_registered_with_a_school and not any(
                a.account_id == account_id and a.school_id is not None
                for a in op.uow.assignments.list()
            ):
                raise ValidationError(
                    "account_id",
                    account_id,
                    "a trust admin must already be registered with a school",
                )
            check_trust_admin_places(trust, account_id, op.at)
            if self.catalogue is not None:  # a link that could never be accepted is not sent
                catalogue = self.catalogue
                assignments = op.uow.assignments.list()
                check_role_caps(
                    catalogue,
                    self.trust_admin_role,
                    account_id=account_id,
                    trust_id=trust_id,
                    school_id=None,
                    holders=lambda role, where: role_holders(
                        catalogue, role, trust_id, where, assignments
                    ),
                )
            others = tuple(n for n in trust.admin_nominations if n.account_id != account_id)
            nomination = TrustAdminNomination(
                account_id=account_id,
                nominated_at=op.at,
                expires_at=op.at + self.policy.admin_token_valid_for,
                token_hash=hash_token(token),
                nominated_by=actor_id,
            )
            updated = attrs.evolve(trust, admin_nominations=(*others, nomination))
            op.write(
                trust, updated, action=AuditAction.TRUST_ADMIN_NOMINATED, account_id=account_id
            )
            op.send(
                OutboundMessage(
                    kind="trust_admin_nomination",
                    to=account.email,
                    subject=f"Accept the trust admin role for {trust.name}",
                    data={
                        "trust_id": trust_id,
                        "account_id": account_id,
                        "token": token,
                        "expires_at": nomination.expires_at.isoformat(),
                    },
                )
            )
        return token

    def accept_trust_admin(self, trust_id: str, token: str) -> str:
        """Accept a trust-admin nomination with its token; returns the new admin's account id.

        The token works once and only before it expires. The account is given the trust role
        :attr:`trust_admin_role` across the trust; with a :attr:`catalogue`, through the checks
        every role assignment passes (:meth:`~schoolsync.access.AccessAdmin.check_assignment`:
        the role's caps, e.g. Boost Insights' two Group Admins per trust, and requirements).

        Raises:
            TrustAdminTokenError: the token is wrong, used or expired (nothing changes).
            CapExceededError: the catalogue's cap on the trust admin role is reached (nothing
                changes; the link still works once a place is free).
        """
        with self._operation(None) as op:
            trust = op.uow.trusts.require(trust_id)
            match = None
            for nomination in trust.admin_nominations:
                if token_matches(token, nomination.token_hash):
                    match = nomination
            if match is None:
                raise TrustAdminTokenError("token", None, "this acceptance link is not valid")
            if match.accepted_at is not None:
                raise TrustAdminTokenError("token", None, "this acceptance link was already used")
            if op.at >= match.expires_at:
                raise TrustAdminTokenError("token", None, "this acceptance link has expired")
            op.actor_id = match.account_id  # the nominee acts for themself
            accepted = attrs.evolve(match, accepted_at=op.at)
            updated = attrs.evolve(
                trust,
                admin_nominations=tuple(
                    accepted if n is match else n for n in trust.admin_nominations
                ),
            )
            op.write(
                trust, updated, action=AuditAction.TRUST_ADMIN_ACCEPTED, account_id=match.account_id
            )
            # The one write path of role assignments, with the catalogue's checks (caps,
            # requirements) when the host gave one.
            role, account_id = self.trust_admin_role, match.account_id
            op.assign_role(
                account_id=account_id,
                trust_id=trust_id,
                role=role,
                school_id=None,
                new_id=lambda: self.new_id("assignment"),
                assigned_by=match.nominated_by,
                check=None
                if self.catalogue is None
                else catalogue_check(
                    self.catalogue, op, account_id=account_id, role=role, school_id=None
                ),
            )
        return match.account_id

    # -- schools and membership ------------------------------------------------------------

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
        with self._operation(actor_id) as op:
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
        with self._operation(actor_id) as op:
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
            before = op.uow.memberships.require(membership_id)
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
            before = op.uow.memberships.require(membership_id)
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
            for before in op.uow.memberships.list():
                if trust_id is not None and before.trust_id != trust_id:
                    continue
                if invitation_has_expired(before, op.at):
                    after = expire_invitation(before, at=op.at)
                    op.write(before, after, action=AuditAction.MEMBERSHIP_EXPIRED)
                    changed.append(after)
        return changed

    # -- grants --------------------------------------------------------------------------------

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
        with self._operation(actor_id) as op:
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
            old = op.uow.grants.require(grant_id)
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
            old = op.uow.grants.require(grant_id)
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

    # -- schools changing identity ---------------------------------------------------------

    def record_urn_change(
        self, school_id: str, new_urn: Urn, *, actor_id: str | None = None
    ) -> School:
        """Record a school's new URN (e.g. an academy conversion), keeping its former URNs.

        Memberships and grants hang on the school's id, so they carry on unchanged.

        Raises:
            ConflictError: another school already holds *new_urn* as its current URN.
        """
        [school] = self._move_urns({school_id: new_urn}, actor_id=actor_id, return_all=True)
        return school

    def follow_urn_changes(
        self, current_urn: Callable[[Urn], Urn], *, actor_id: str | None = None
    ) -> list[School]:
        """Move every school whose URN has a successor to that successor (e.g. from GIAS links).

        *current_urn* maps a URN to the URN the establishment holds now (itself if unchanged),
        e.g. :meth:`schoolsync.sources.gias.GiasLinks.current_urn`. All moves are one unit of
        work. Returns the changed schools.

        Raises:
            ProblemsError: some moves clash (two schools would share a URN, or another school
                holds it); every clash is listed and nothing changes.
        """
        with self.store.unit_of_work() as uow:
            moves = {
                s.id: current_urn(s.urn)
                for s in uow.schools.list()
                if s.urn is not None and current_urn(s.urn) != s.urn
            }
        return self._move_urns(moves, actor_id=actor_id, return_all=False)

    def _move_urns(
        self, moves: dict[str, Urn], *, actor_id: str | None, return_all: bool
    ) -> list[School]:
        changed: list[School] = []
        with self._operation(actor_id) as op:
            schools = {s.id: s for s in op.uow.schools.list()}
            for school_id in moves:
                if school_id not in schools:
                    raise NotFoundError("school", school_id)
            _check_urn_moves(moves, schools)
            for school_id, urn in sorted(moves.items()):
                school = schools[school_id]
                updated = record_urn_change(school, urn)
                if updated != school:
                    op.write(school, updated, action=AuditAction.SCHOOL_URN_CHANGED)
                    changed.append(updated)
                elif return_all:
                    changed.append(school)
        return changed


def _check_urn_moves(moves: dict[str, Urn], schools: dict[str, School]) -> None:
    """Refuse moves that would leave two schools holding one current URN.

    Raises:
        ConflictError: the only move clashes.
        ProblemsError: every clash, when there are several moves.
    """
    holder = {s.urn.value: s.id for s in schools.values() if s.urn is not None}
    clashes: list[ConflictError] = []
    claimed: dict[str, str] = {}
    for school_id, urn in sorted(moves.items()):
        other = holder.get(urn.value)
        if other is not None and other != school_id and other not in moves:
            clashes.append(ConflictError(f"URN {urn} is held by school {other!r}"))
        elif urn.value in claimed:
            clashes.append(
                ConflictError(
                    f"URN {urn} would be held by schools {claimed[urn.value]!r} and {school_id!r}"
                )
            )
        claimed.setdefault(urn.value, school_id)
    if len(clashes) == 1 and len(moves) == 1:
        raise clashes[0]
    if clashes:
        raise ProblemsError("URN changes clash", clashes)
