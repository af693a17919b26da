"""Validated changes to accounts and role assignments, each one an audit event.

:class:`AccessAdmin` checks every change before making it:

* **caps**: a role's holders per school / per trust (holders of an implying role count), with
  the current holders named in :class:`~schoolsync.errors.CapExceededError`;
* **delegation**: the actor needs the catalogue's ``manage_permission`` (``users.manage``) at the
  scope and may only give roles whose every permission it holds there (no escalation);
* **requirements**: a role's ``requires`` must be held first and cannot be removed from under it;
  the last holder of an "exactly one" role can only be replaced (:meth:`AccessAdmin.transfer`);
* **edit rules**: administrators change another user's job role and status, and their name or
  email only where the catalogue's ``admin_editable_fields`` says so (by default never: the
  FFT Aspire rule; the user changes their own).

Every method returns the :class:`~schoolsync.audit.AuditEvent` list it made (no personal data)
and applies it to the index unless ``apply=False`` (use that with ``AccessIndex.preview``).
Persist with :func:`schoolsync.access.records.write_events`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import attrs

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.activation import (
    ActivationChallenge,
    ActivationOutcome,
    redeem_activation,
)
from schoolsync.access.caps import check_role_caps, role_holders
from schoolsync.access.catalogue import Role, RoleScope
from schoolsync.access.index import AccessIndex
from schoolsync.access.records import record_event
from schoolsync.errors import (
    AccessDeniedError,
    DuplicateRecordError,
    NotFoundError,
    RoleRequirementError,
    ValidationError,
)
from schoolsync.ids import RandomIds
from schoolsync.records.audit import AuditAction, AuditEvent

__all__ = ["AccessAdmin"]


def _new_id() -> str:
    return RandomIds().new_id()


class AccessAdmin:
    """Checked account and role changes over an :class:`~schoolsync.access.AccessIndex`.

    ``actor_id=None`` is the system itself (set-up, imports): delegation checks are skipped,
    caps and requirements are not.
    """

    def __init__(self, index: AccessIndex, *, new_id: Callable[[], str] = _new_id) -> None:
        self.index = index
        self._new_id = new_id

    # -- helpers ------------------------------------------------------------------------

    def _account(self, account_id: str) -> Account:
        acct = self.index.records.accounts.get(account_id)
        if acct is None:
            raise NotFoundError("account", account_id)
        return acct

    def _finish(
        self, events: list[AuditEvent], apply: bool, account: Account | None = None
    ) -> list[AuditEvent]:
        if apply:
            self.index.apply(events)
            if account is not None:
                # Events carry no names or emails; keep the full record in the working set.
                self.index.records.accounts[account.id] = account
        return events

    def _held_roles(self, account_id: str, school_id: str | None) -> list[RoleAssignment]:
        return [a for a in self.index.assignments_of(account_id) if a.school_id == school_id]

    def holders(self, role: str, trust_id: str, school_id: str | None) -> list[str]:
        """Accounts holding *role* (directly or through an implying role) at the scope.

        ``school_id=None`` counts across the whole trust (see :func:`~schoolsync.access.caps.role_holders`).
        """
        cat = self.index.catalogue
        if school_id is not None:
            pool: Iterable[RoleAssignment] = self.index.assignments_at(school_id)
        elif cat.role(role).scope is RoleScope.TRUST:
            pool = self.index.assignments_at(None)  # only trust roles imply trust roles
        else:
            pool = self.index.records.assignments.values()
        return role_holders(cat, role, trust_id, school_id, pool)

    def _check_delegation(self, actor_id: str | None, role: Role, school_id: str | None) -> None:
        if actor_id is None:
            return
        cat = self.index.catalogue
        if cat.manage_permission is not None:
            decision = self.index.check(actor_id, cat.manage_permission, school_id)
            if not decision:
                raise AccessDeniedError(
                    f"{actor_id} cannot give roles here: {decision.explain()}", decision
                )
        for p in sorted(cat.effective_permissions(role.name)):
            decision = self.index.check(actor_id, p, school_id)
            if not decision:
                raise AccessDeniedError(
                    f"{actor_id} cannot give {role.name!r}: it carries `{p}`, which "
                    f"{actor_id} does not hold here (no escalation)",
                    decision,
                )

    # -- assignments --------------------------------------------------------------------

    def check_assignment(
        self, *, actor_id: str | None, account_id: str, role: str, school_id: str | None
    ) -> Account:
        """The checks every new role assignment passes, whichever path makes it.

        Scope (a school role names its school, a trust role none), no duplicate, the role's
        requirements already held there, delegation (*actor_id* ``None`` is the system: not
        checked) and caps (:func:`~schoolsync.access.caps.check_role_caps`). Raises the
        :class:`~schoolsync.errors.SchoolsyncError` naming the first reason it is refused;
        returns the account.
        """
        cat = self.index.catalogue
        the_role = cat.role(role)
        account = self._account(account_id)
        if the_role.scope is RoleScope.SCHOOL and school_id is None:
            raise ValidationError("school_id", None, f"{role!r} is a school role: name the school")
        if the_role.scope is RoleScope.TRUST and school_id is not None:
            raise ValidationError("school_id", school_id, f"{role!r} is a trust role")
        if school_id is not None and school_id not in self.index.records.schools:
            raise NotFoundError("school", school_id)
        held = self._held_roles(account_id, school_id)
        if any(a.role == role for a in held):
            raise DuplicateRecordError("role assignment", (account_id, role, school_id))
        held_names = [a.role for a in held if a.role in cat.roles]
        for required in sorted(the_role.requires):
            if not cat.holders_of(required, held_names):
                raise RoleRequirementError(
                    f"{role!r} requires {required!r}, which {account_id} does not hold there"
                )
        self._check_delegation(actor_id, the_role, school_id)
        check_role_caps(
            cat,
            role,
            account_id=account_id,
            trust_id=account.trust_id,
            school_id=school_id,
            holders=lambda name, where: self.holders(name, account.trust_id, where),
        )
        return account

    def assign(
        self,
        *,
        actor_id: str | None,
        account_id: str,
        role: str,
        at: datetime,
        school_id: str | None = None,
        assignment_id: str | None = None,
        apply: bool = True,
    ) -> list[AuditEvent]:
        """Give *account_id* the *role* at *school_id* (``None``: across its trust)."""
        account = self.check_assignment(
            actor_id=actor_id, account_id=account_id, role=role, school_id=school_id
        )
        record = RoleAssignment(
            id=assignment_id or self._new_id(),
            account_id=account_id,
            trust_id=account.trust_id,
            role=role,
            school_id=school_id,
            assigned_by=actor_id,
            assigned_at=at,
        )
        if record.id in self.index.records.assignments:
            raise DuplicateRecordError("role assignment", record.id)
        events = [record_event("assignment", None, record, at=at, actor_id=actor_id)]
        return self._finish(events, apply)

    def unassign(
        self,
        *,
        actor_id: str | None,
        assignment_id: str,
        at: datetime,
        apply: bool = True,
        _replacing: bool = False,
    ) -> list[AuditEvent]:
        """Remove a role assignment (refused if another held role requires it, or it is the
        last holder of an "exactly one" role: use :meth:`transfer`)."""
        cat = self.index.catalogue
        record = self.index.records.assignments.get(assignment_id)
        if record is None:
            raise NotFoundError("role assignment", assignment_id)
        if actor_id is not None and cat.manage_permission is not None:
            decision = self.index.check(actor_id, cat.manage_permission, record.school_id)
            if not decision:
                raise AccessDeniedError(
                    f"{actor_id} cannot remove roles here: {decision.explain()}", decision
                )
        remaining = [
            a.role
            for a in self._held_roles(record.account_id, record.school_id)
            if a.id != assignment_id and a.role in cat.roles
        ]
        if record.role in cat.roles:
            for other in remaining:
                for required in cat.roles[other].requires:
                    if cat.holders_of(required, [record.role]) and not cat.holders_of(
                        required, remaining
                    ):
                        raise RoleRequirementError(
                            f"{other!r} requires {required!r}: remove {other!r} first"
                        )
            role = cat.roles[record.role]
            if role.exactly_one and not _replacing:
                where = record.school_id if role.scope is RoleScope.SCHOOL else None
                holders = self.holders(record.role, record.trust_id, where)
                if holders == [record.account_id] and not cat.holders_of(record.role, remaining):
                    raise RoleRequirementError(
                        f"{record.role!r} must have exactly one holder; "
                        "transfer it to someone else instead of removing it"
                    )
        events = [record_event("assignment", record, None, at=at, actor_id=actor_id)]
        return self._finish(events, apply)

    def transfer(
        self,
        *,
        actor_id: str | None,
        assignment_id: str,
        to_account_id: str,
        at: datetime,
        apply: bool = True,
    ) -> list[AuditEvent]:
        """Move a role from one holder to another in one change (how "exactly one" roles change hands)."""
        record = self.index.records.assignments.get(assignment_id)
        if record is None:
            raise NotFoundError("role assignment", assignment_id)
        removal = self.unassign(
            actor_id=actor_id, assignment_id=assignment_id, at=at, apply=False, _replacing=True
        )
        # Delegation is judged before the change; caps and requirements after the removal.
        self._check_delegation(actor_id, self.index.catalogue.role(record.role), record.school_id)
        index = self.index
        trial = AccessIndex.build(index.catalogue, index.records.copy(), now=index.now)
        trial.apply(removal)
        addition = AccessAdmin(trial, new_id=self._new_id).assign(
            actor_id=None,
            account_id=to_account_id,
            role=record.role,
            school_id=record.school_id,
            at=at,
            apply=False,
        )
        addition = [attrs.evolve(e, actor_id=actor_id) for e in addition]
        return self._finish([*removal, *addition], apply)

    # -- accounts -----------------------------------------------------------------------

    def invite(
        self, *, actor_id: str | None, account: Account, at: datetime, apply: bool = True
    ) -> list[AuditEvent]:
        """Add a new account; it starts pending (denied everything) whatever status it carries."""
        if account.id in self.index.records.accounts:
            raise DuplicateRecordError("account", account.id)
        cat = self.index.catalogue
        if actor_id is not None and cat.manage_permission is not None:
            allowed = self.index.check(actor_id, cat.manage_permission, None) or any(
                self.index.schools_with(actor_id, cat.manage_permission)
            )
            if not allowed:
                raise AccessDeniedError(f"{actor_id} cannot invite users")
        record = attrs.evolve(account, status=AccountStatus.PENDING, created_at=at)
        events = [record_event("account", None, record, at=at, actor_id=actor_id)]
        return self._finish(events, apply, record)

    def _may_manage(self, actor_id: str, account: Account) -> bool:
        mp = self.index.catalogue.manage_permission
        if mp is None:
            return True
        if self.index.check(actor_id, mp, None):
            return True
        schools = {
            a.school_id for a in self.index.assignments_of(account.id) if a.school_id is not None
        }
        if not schools:
            # Not yet placed at any school: any school administrator of the trust may manage it.
            return bool(self.index.schools_with(actor_id, mp))
        return any(self.index.check(actor_id, mp, s) for s in sorted(schools))

    def edit_account(
        self,
        *,
        actor_id: str | None,
        account_id: str,
        at: datetime,
        name: str | None = None,
        email: str | None = None,
        job_role: str | None = None,
        apply: bool = True,
    ) -> list[AuditEvent]:
        """Change an account's details.

        The user changes their own name and email. On another user's account the actor needs
        ``manage_permission`` over it (a school where the account holds a role, or the trust),
        and may change the name or email only if the catalogue lists the field in
        ``admin_editable_fields``; job role is always allowed.
        """
        account = self._account(account_id)
        own = actor_id == account_id
        if not own and actor_id is not None and not self._may_manage(actor_id, account):
            raise AccessDeniedError(f"{actor_id} cannot manage account {account_id}")
        if not own:
            allowed = self.index.catalogue.admin_editable_fields
            for field, new, old in (("name", name, account.name), ("email", email, account.email)):
                if new is not None and new != old and field not in allowed:
                    raise AccessDeniedError(
                        f"administrators cannot change another user's {field} in this role "
                        f"model (field {field!r} is not in the catalogue's "
                        "admin_editable_fields); the user changes it in their own profile"
                    )
        after = attrs.evolve(
            account,
            name=account.name if name is None else name,
            email=account.email if email is None else email,
            job_role=account.job_role if job_role is None else job_role,
        )
        if after == account:
            return []
        events = [record_event("account", account, after, at=at, actor_id=actor_id)]
        return self._finish(events, apply, after)

    def set_status(
        self,
        *,
        actor_id: str | None,
        account_id: str,
        status: AccountStatus | str,
        at: datetime,
        apply: bool = True,
    ) -> list[AuditEvent]:
        """Make an account active or inactive ("Make User Inactive")."""
        status = AccountStatus(status)
        account = self._account(account_id)
        if actor_id is not None and not self._may_manage(actor_id, account):
            raise AccessDeniedError(f"{actor_id} cannot manage account {account_id}")
        if account.status is status:
            return []
        after = attrs.evolve(account, status=status)
        events = [record_event("account", account, after, at=at, actor_id=actor_id)]
        return self._finish(events, apply, after)

    def activate(
        self,
        *,
        challenge: ActivationChallenge,
        link_token: str,
        code: str,
        at: datetime,
        apply: bool = True,
    ) -> tuple[ActivationOutcome, ActivationChallenge, list[AuditEvent]]:
        """Redeem a two-stage activation; on success a pending account becomes active.

        Returns the outcome, the challenge to store back (attempts counted, or marked used) and
        the audit events (the status change, made by the account itself).
        """
        outcome, after = redeem_activation(challenge, link_token=link_token, code=code, now=at)
        events: list[AuditEvent] = []
        if outcome is ActivationOutcome.ACTIVATED:
            account = self._account(challenge.account_id)
            if account.status is AccountStatus.PENDING:
                active = attrs.evolve(account, status=AccountStatus.ACTIVE)
                events = [
                    record_event(
                        "account",
                        account,
                        active,
                        at=at,
                        actor_id=account.id,
                        action=AuditAction.ACCOUNT_ACTIVATED,
                    )
                ]
                self._finish(events, apply, active)
        return outcome, after, events
