""":class:`CatalogueChecks`: the single-edit checks (caps, delegation, edit rules) over a
:class:`~schoolsync.access.RoleCatalogue` and the access index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schoolsync.access.accounts import Account
from schoolsync.access.catalogue import RoleCatalogue, RoleScope
from schoolsync.access.index import AccessIndex
from schoolsync.bulk._rules import AccountAction
from schoolsync.errors import AccessDeniedError, CapExceededError, ValidationError
from schoolsync.ports import UnitOfWork

__all__ = ["CatalogueChecks"]


class CatalogueChecks:
    """The checks a single role or account edit goes through, for a role catalogue.

    * the role exists and is given at its own scope (a school role at a member school of the
      account's trust, a trust role trust-wide);
    * caps: a role's ``max_per_school`` / ``max_per_trust`` (and ``exactly_one``) holders,
      counted on the unit of work as changed so far; holders of a role that implies it count;
      the error names the current holders;
    * delegation: the acting account needs the catalogue's ``manage_permission`` at that scope
      and every permission the role carries there (nobody gives what they lack); taking a role
      away needs the same; creating, deactivating and reactivating accounts needs the manage
      permission trust-wide or at every school where the account holds roles;
    * edit rules: nobody changes another user's name unless *others_may_rename* (the Progress
      Teaching model allows it, FFT Aspire does not).

    The actor's own access is read once per unit of work, as it was before the change set.
    ``actor_id`` ``None`` (the system, e.g. a data officer at the command line) skips the
    delegation and edit-rule checks; caps always apply.

    Args:
        catalogue: the role model.
        others_may_rename: whether administrators may change other users' names.
    """

    def __init__(self, catalogue: RoleCatalogue, *, others_may_rename: bool = False) -> None:
        self.catalogue = catalogue
        self.others_may_rename = others_may_rename
        self._index: tuple[UnitOfWork, AccessIndex] | None = None

    # -- catalogue ------------------------------------------------------------------------

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

    # -- helpers --------------------------------------------------------------------------

    def _access(self, uow: UnitOfWork, at: datetime) -> AccessIndex:
        if self._index is None or self._index[0] is not uow:
            self._index = (uow, AccessIndex.from_unit_of_work(self.catalogue, uow, now=at))
        return self._index[1]

    def _where(self, uow: UnitOfWork, school_id: str | None) -> str:
        if school_id is None:
            return "the trust"
        school = uow.schools.get(school_id)
        return school.name if school is not None else school_id

    def _require(
        self,
        uow: UnitOfWork,
        actor_id: str,
        permissions: Sequence[str],
        school_id: str | None,
        at: datetime,
        doing: str,
    ) -> None:
        index = self._access(uow, at)
        for permission in permissions:
            decision = index.check(actor_id, permission, school_id)
            if not decision:
                raise AccessDeniedError(
                    f"{doing} at {self._where(uow, school_id)} needs {permission!r}, "
                    f"which the acting account does not hold there",
                    decision,
                )

    def _role_permissions(self, role: str) -> list[str]:
        manage = self.catalogue.manage_permission
        perms = sorted(self.catalogue.effective_permissions(role))
        return ([manage] if manage else []) + [p for p in perms if p != manage]

    def _target(self, uow: UnitOfWork, account_id: str) -> Account:
        return uow.accounts.require(account_id)

    def _check_place(
        self, uow: UnitOfWork, account: Account, role: str, school_id: str | None
    ) -> None:
        found = self.catalogue.role(role)
        if school_id is None and found.scope is not RoleScope.TRUST:
            raise ValidationError("role", role, "is a school role; give it at a school")
        if school_id is not None:
            if found.scope is not RoleScope.SCHOOL:
                raise ValidationError("role", role, "is a trust role; give it trust-wide")
            if not any(
                m.trust_id == account.trust_id and m.is_member
                for m in uow.memberships.list(school_id=school_id)
            ):
                raise ValidationError(
                    "school_id", school_id, "is not a member school of the account's trust"
                )

    def _check_requires(
        self, uow: UnitOfWork, account: Account, role: str, school_id: str | None
    ) -> None:
        required = self.catalogue.role(role).requires
        if not required:
            return
        held = {
            a.role
            for a in uow.assignments.list(school_id=school_id)
            if a.account_id == account.id and a.school_id == school_id
        }
        missing = sorted(r for r in required if not self.catalogue.holders_of(r, held))
        if missing:
            raise ValidationError(
                "role",
                role,
                f"needs {', '.join(repr(m) for m in missing)} at {self._where(uow, school_id)} first",
            )

    def _check_cap(
        self, uow: UnitOfWork, account: Account, role: str, school_id: str | None
    ) -> None:
        found = self.catalogue.role(role)
        levels = [
            (level, cap)
            for level in (RoleScope.SCHOOL, RoleScope.TRUST)
            if (cap := found.cap_at(level)) is not None
            and (level is RoleScope.TRUST or school_id is not None)
        ]
        if not levels:
            return
        names = {a.id: a.name for a in uow.accounts.list() if a.trust_id == account.trust_id}
        for level, cap in levels:
            rows = (
                uow.assignments.list(school_id=school_id)
                if level is RoleScope.SCHOOL
                else [
                    a
                    for a in uow.assignments.list()
                    if (a.school_id is None) == (found.scope is RoleScope.TRUST)
                ]
            )
            groups: dict[tuple[str, str | None], set[str]] = {}
            for a in rows:
                if a.account_id in names:
                    groups.setdefault((a.account_id, a.school_id), set()).add(a.role)
            holders = [k for k, held in groups.items() if self.catalogue.holders_of(role, held)]
            if (account.id, school_id) in holders:
                continue  # already a holder: giving the role again changes no count
            if len(holders) >= cap:
                where = (
                    f"school {self._where(uow, school_id)}"
                    if level is RoleScope.SCHOOL
                    else "the trust"
                )
                raise CapExceededError(role, cap, where, sorted(names[k[0]] for k in holders))

    # -- AssignmentChecks -------------------------------------------------------------------

    def check_assign(
        self,
        uow: UnitOfWork,
        *,
        actor_id: str | None,
        account_id: str,
        role: str,
        school_id: str | None,
        at: datetime,
    ) -> None:
        """Refuse a role the catalogue does not have there, over a cap, or beyond the actor's own."""
        account = self._target(uow, account_id)
        self._check_place(uow, account, role, school_id)
        if actor_id is not None:
            self._require(
                uow, actor_id, self._role_permissions(role), school_id, at, f"giving {role!r}"
            )
        self._check_requires(uow, account, role, school_id)
        self._check_cap(uow, account, role, school_id)

    def check_unassign(
        self,
        uow: UnitOfWork,
        *,
        actor_id: str | None,
        account_id: str,
        role: str,
        school_id: str | None,
        at: datetime,
    ) -> None:
        """Taking a role away needs what giving it needs (unknown legacy roles: manage only)."""
        self._target(uow, account_id)
        if actor_id is None:
            return
        if role in self.catalogue.roles:
            needed = self._role_permissions(role)
        else:
            needed = [p for p in (self.catalogue.manage_permission,) if p]
        self._require(uow, actor_id, needed, school_id, at, f"removing {role!r}")

    def check_account(
        self,
        uow: UnitOfWork,
        *,
        actor_id: str | None,
        account_id: str,
        action: AccountAction,
        at: datetime,
    ) -> None:
        """Creating, renaming, deactivating, reactivating: the manage permission where it counts."""
        if actor_id is None:
            return
        if action is AccountAction.RENAME and actor_id != account_id and not self.others_may_rename:
            raise AccessDeniedError(
                "administrators cannot change another user's name; the user changes it in their profile"
            )
        if actor_id == account_id and action is AccountAction.RENAME:
            return
        manage = self.catalogue.manage_permission
        if manage is None:
            raise AccessDeniedError("this role model has no permission to manage users")
        index = self._access(uow, at)
        if index.check(actor_id, manage, None):
            return
        doing = f"{action.value} an account"
        if action is AccountAction.CREATE:
            actor = uow.accounts.get(actor_id)
            schools = [
                m.school_id
                for m in uow.memberships.list()
                if actor is not None and m.trust_id == actor.trust_id and m.is_member
            ]
            if any(index.check(actor_id, manage, s) for s in schools):
                return
            raise AccessDeniedError(
                f"{doing} needs {manage!r} at a school of the trust or trust-wide"
            )
        schools = sorted(
            {
                a.school_id
                for a in uow.assignments.list()
                if a.account_id == account_id and a.school_id
            }
        )
        if not schools:
            raise AccessDeniedError(f"{doing} without school roles needs {manage!r} trust-wide")
        for s in schools:
            self._require(uow, actor_id, [manage], s, at, doing)
