""":class:`CatalogueChecks`: bulk changes through :class:`~schoolsync.access.admin.AccessAdmin`,
the checks every single edit goes through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schoolsync.access.accounts import AccountStatus
from schoolsync.access.admin import AccessAdmin
from schoolsync.access.catalogue import RoleCatalogue, RoleScope
from schoolsync.access.index import AccessIndex
from schoolsync.bulk._rules import AccountAction, AccountEdit, RoleEdit, RoleTransfer
from schoolsync.errors import NotFoundError
from schoolsync.ports import UnitOfWork

__all__ = ["CatalogueChecks"]


class CatalogueChecks:
    """Bulk checks for a role catalogue: each change is tried through
    :class:`~schoolsync.access.admin.AccessAdmin`, exactly as a single edit would be.

    So the rules are the access package's: caps (current holders named), delegation (the
    actor needs ``users.manage`` at the scope and every permission of the role it gives; a
    trust role acts at a school only through that school's grant), role requirements, "exactly
    one" roles (which change hands through :meth:`AccessAdmin.transfer`), and the edit rules (administrators cannot change another user's name).

    For each unit of work the checks build an :class:`~schoolsync.access.AccessIndex` from it
    once and apply every allowed change to it, so later changes of the same change set are
    judged on the state the earlier ones leave (the actor's own access included).
    ``actor_id`` ``None`` is the system: no delegation checks; caps and requirements apply.

    Args:
        catalogue: the role model.
    """

    def __init__(self, catalogue: RoleCatalogue) -> None:
        self.catalogue = catalogue
        self._admin: tuple[UnitOfWork, AccessAdmin] | None = None

    def role_names(self) -> Sequence[str]:
        """Every role name: trust roles first, then school roles, in declaration order."""
        roles = self.catalogue.roles
        return [n for n in roles if roles[n].scope is RoleScope.TRUST] + [
            n for n in roles if roles[n].scope is RoleScope.SCHOOL
        ]

    def role_scope(self, role: str) -> RoleScope | None:
        """The role's scope, or ``None`` if the catalogue has no such role."""
        found = self.catalogue.roles.get(role)
        return None if found is None else found.scope

    def admin(self, uow: UnitOfWork, at: datetime) -> AccessAdmin:
        """The :class:`AccessAdmin` tracking *uow* (built from it on first use)."""
        if self._admin is None or self._admin[0] is not uow:
            index = AccessIndex.from_unit_of_work(self.catalogue, uow, now=at)
            self._admin = (uow, AccessAdmin(index))
        return self._admin[1]

    def check_role(
        self, uow: UnitOfWork, edit: RoleEdit, *, actor_id: str | None, at: datetime
    ) -> None:
        """:meth:`AccessAdmin.assign` (caps, delegation, requirements, scope) or, for a removal,
        :meth:`AccessAdmin.unassign` (delegation, requirements, "exactly one" roles)."""
        admin = self.admin(uow, at)
        if not edit.remove:
            admin.assign(
                actor_id=actor_id,
                account_id=edit.account_id,
                role=edit.role,
                school_id=edit.school_id,
                at=at,
            )
            return
        for assignment in admin.index.records.assignments.values():
            if (assignment.account_id, assignment.role, assignment.school_id) == (
                edit.account_id,
                edit.role,
                edit.school_id,
            ):
                admin.unassign(actor_id=actor_id, assignment_id=assignment.id, at=at)
                return
        raise NotFoundError("role assignment", (edit.account_id, edit.role, edit.school_id))

    def is_exactly_one(self, role: str) -> bool:
        """True if the catalogue says *role* has exactly one holder per school (or trust)."""
        found = self.catalogue.roles.get(role)
        return found is not None and found.exactly_one

    def check_transfer(
        self, uow: UnitOfWork, edit: RoleTransfer, *, actor_id: str | None, at: datetime
    ) -> None:
        """:meth:`AccessAdmin.transfer`: the actor may remove the role there and give it
        (delegation); the new holder meets the role's requirements and caps."""
        admin = self.admin(uow, at)
        key = (edit.from_account_id, edit.role, edit.school_id)
        for assignment in admin.index.records.assignments.values():
            if (assignment.account_id, assignment.role, assignment.school_id) == key:
                admin.transfer(
                    actor_id=actor_id,
                    assignment_id=assignment.id,
                    to_account_id=edit.to_account_id,
                    at=at,
                )
                return
        raise NotFoundError("role assignment", key)

    def check_account(
        self, uow: UnitOfWork, edit: AccountEdit, *, actor_id: str | None, at: datetime
    ) -> None:
        """:meth:`AccessAdmin.invite`, :meth:`~AccessAdmin.edit_account` or
        :meth:`~AccessAdmin.set_status`, by the edit's action."""
        admin = self.admin(uow, at)
        after = edit.after
        if edit.action is AccountAction.CREATE:
            admin.invite(actor_id=actor_id, account=after, at=at)
        elif edit.action is AccountAction.RENAME:
            if actor_id is None:
                # The system (a data officer's import) may correct names; record it in the index.
                admin.index.records.accounts[after.id] = after
                return
            admin.edit_account(actor_id=actor_id, account_id=after.id, name=after.name, at=at)
        else:
            status = (
                AccountStatus.INACTIVE
                if edit.action is AccountAction.DEACTIVATE
                else AccountStatus.ACTIVE
            )
            admin.set_status(actor_id=actor_id, account_id=after.id, status=status, at=at)
