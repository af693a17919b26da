"""Trust set-up and trust admins: nominations by single-use link, acceptance through the one
write path of role assignments (with the catalogue's caps)."""

from __future__ import annotations

import attrs

from schoolsync.access._lifecycle_base import (
    LifecycleBase,
)
from schoolsync.access.caps import check_role_caps, check_trust_admin_places, role_holders
from schoolsync.access.operation import catalogue_check
from schoolsync.errors import (
    ConflictError,
    ValidationError,
)
from schoolsync.ports import OutboundMessage
from schoolsync.records.audit import AuditAction
from schoolsync.trusts import (
    Trust,
    TrustAdminNomination,
    TrustAdminTokenError,
    TrustKind,
    hash_token,
    token_matches,
)


class TrustAdmins(LifecycleBase):
    """Create trusts; nominate and accept trust admins."""

    __slots__ = ()

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
            ConcurrentWriteError: another writer held the trust for longer than the store
                waits (nothing changes, no link is sent).

        Concurrent nominations are serialised by the trust's lock, so the places hold under
        any interleaving and a refused nomination sends nothing.
        """
        token = self.new_token()
        # Under the trust's lock: the places and caps are counted on what is read after it.
        with self._operation(actor_id, trust_ids=(trust_id,)) as op:
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

        Single-use holds across processes: the trust is locked before the nomination is read.

        Raises:
            TrustAdminTokenError: the token is wrong, used or expired (nothing changes).
            CapExceededError: the catalogue's cap on the trust admin role is reached (nothing
                changes; the link still works once a place is free).
            ConcurrentWriteError: another writer held the trust for longer than the store
                waits (nothing changes; the link still works).
        """
        # Under the trust's lock, the nomination is read again: of several processes redeeming
        # one link at once, exactly one finds it unused.
        with self._operation(None, trust_ids=(trust_id,)) as op:
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
