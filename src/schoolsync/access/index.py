"""The access index: exact, fast, explainable decisions over a trust's access records.

:class:`AccessIndex` precomputes, for every active account, the permissions it holds at each
school (and at its trust) with the paths that give them, so :meth:`AccessIndex.check` is a dict
lookup. Denials are worked out on demand with the reason, the smallest missing fact and who can
supply it. Changes arrive as audit events (:meth:`AccessIndex.apply`) and update only the
accounts they touch; ``at=`` answers as of a past moment by undoing later events.

The grant rule: a trust account may use at a school exactly the permissions of its trust roles
that lie inside that school's live grants (for permissions that need a grant; the rest need
only the school's accepted membership of the trust). School roles act at their own school.
"""

from __future__ import annotations

import bisect
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.catalogue import PermissionLevel, RoleCatalogue, RoleScope
from schoolsync.access.decision import (
    AccessChange,
    AccessDiff,
    AccessPath,
    AccessTable,
    Decision,
    DenialReason,
    MissingFact,
    Namer,
    _denial,
)
from schoolsync.access.grants import Grant
from schoolsync.access.records import AccessRecords, _kind_of
from schoolsync.audit import AuditEvent
from schoolsync.trusts import Membership, School

if TYPE_CHECKING:
    from schoolsync.ports import Clock, Store, UnitOfWork

__all__ = ["AccessIndex", "AccessRequest"]

_Cell = dict[str, tuple[AccessPath, ...]]
_Access = dict[str | None, _Cell]
#: Precomputed allow decisions of one (account, school): permission -> Decision.
_Allowed = dict[str, Decision]
_NO_ROLE = DenialReason.NO_ROLE
_INACTIVE = DenialReason.INACTIVE
_UNKNOWN = DenialReason.UNKNOWN_SCHOOL
_SCHOOL_LEVEL = PermissionLevel.SCHOOL


def _names(ids: Sequence[str], name: Namer, shown: int = 5) -> str:
    """Up to *shown* accounts for a message; the full list stays in ``MissingFact.accounts``."""
    text = ", ".join(name(i, i) for i in ids[:shown])
    return text if len(ids) <= shown else f"{text} and {len(ids) - shown} more"


class _AccountNames(Mapping[str, str]):
    """Account id -> the account's name, read from the records when looked up (blank: left out)."""

    __slots__ = ("_accounts",)

    def __init__(self, accounts: Mapping[str, Account]) -> None:
        self._accounts = accounts

    def __getitem__(self, account_id: str) -> str:
        name = self._accounts[account_id].name.strip()
        if not name:
            raise KeyError(account_id)
        return name

    def __iter__(self) -> Iterator[str]:
        return (a for a, acct in self._accounts.items() if acct.name.strip())

    def __len__(self) -> int:
        return sum(1 for _ in self)


@attrs.frozen
class AccessRequest:
    """One question for :meth:`AccessIndex.check_many`: may *account_id* use *permission* at *school_id*."""

    account_id: str
    permission: str
    school_id: str | None = None


class _View:
    """Records plus the lookups the evaluator needs; the one place the access rules live."""

    def __init__(self, catalogue: RoleCatalogue, records: AccessRecords) -> None:
        self.catalogue = catalogue
        self.records = records
        self.by_account: dict[str, dict[str, RoleAssignment]] = {}
        #: Assignments by school (``None``: trust roles), for cap counts.
        self.by_school: dict[str | None, dict[str, RoleAssignment]] = {}
        self.trust_accounts: dict[str, set[str]] = {}
        self.school_accounts: dict[str, set[str]] = {}
        self.grants_by_school: dict[str, dict[str, Grant]] = {}
        self.memberships_by_school: dict[str, dict[str, Membership]] = {}
        #: While set, ``holders`` answers from the index's precomputed holders (same moment).
        self.lookup: Callable[[str | None, str], Iterable[str]] | None = None
        for a in records.assignments.values():
            self._add_assignment(a)
        for g in records.grants.values():
            self.grants_by_school.setdefault(g.school_id, {})[g.id] = g
        for m in records.memberships.values():
            self.memberships_by_school.setdefault(m.school_id, {})[m.id] = m

    # -- incremental maintenance --------------------------------------------------------

    def _add_assignment(self, a: RoleAssignment) -> None:
        self.by_account.setdefault(a.account_id, {})[a.id] = a
        self.by_school.setdefault(a.school_id, {})[a.id] = a
        if a.school_id is None:
            self.trust_accounts.setdefault(a.trust_id, set()).add(a.account_id)
        else:
            self.school_accounts.setdefault(a.school_id, set()).add(a.account_id)

    def _drop_assignment(self, a: RoleAssignment) -> None:
        mine = self.by_account.get(a.account_id, {})
        mine.pop(a.id, None)
        self.by_school.get(a.school_id, {}).pop(a.id, None)
        still_trust = any(x.school_id is None and x.trust_id == a.trust_id for x in mine.values())
        if a.school_id is None and not still_trust:
            self.trust_accounts.get(a.trust_id, set()).discard(a.account_id)
        if a.school_id is not None and not any(x.school_id == a.school_id for x in mine.values()):
            self.school_accounts.get(a.school_id, set()).discard(a.account_id)

    def update(self, kind: str, before: Any, after: Any) -> tuple[set[str], set[tuple[str, str]]]:
        """Reflect one record change (already made in ``records``).

        Returns the accounts to recompute in full and the (account, school) pairs to
        recompute (grant and membership changes touch one school only).
        """
        affected: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        for rec in (before, after):
            if rec is None:
                continue
            if kind == "account":
                affected.add(rec.id)
            elif kind == "assignment":
                affected.add(rec.account_id)
            elif kind in ("grant", "membership"):
                pairs.update((a, rec.school_id) for a in self.trust_accounts.get(rec.trust_id, ()))
            elif kind == "trust":
                affected |= self.trust_accounts.get(rec.id, set())
            elif kind == "school":
                affected |= self.school_accounts.get(rec.id, set())
                for accounts in self.trust_accounts.values():
                    affected |= accounts
        if kind == "assignment":
            if before is not None:
                self._drop_assignment(before)
            if after is not None:
                self._add_assignment(after)
        elif kind == "grant":
            if before is not None:
                self.grants_by_school.get(before.school_id, {}).pop(before.id, None)
            if after is not None:
                self.grants_by_school.setdefault(after.school_id, {})[after.id] = after
        elif kind == "membership":
            if before is not None:
                self.memberships_by_school.get(before.school_id, {}).pop(before.id, None)
            if after is not None:
                self.memberships_by_school.setdefault(after.school_id, {})[after.id] = after
        return affected, pairs

    def place_name(self, record_id: str) -> str | None:
        """The name of a school or trust id (``None`` if neither is known)."""
        school = self.records.schools.get(record_id)
        if school is not None:
            return school.name
        trust = self.records.trusts.get(record_id)
        return None if trust is None else trust.name

    # -- the rules ----------------------------------------------------------------------

    def is_member(self, trust_id: str, school_id: str) -> bool:
        """True if *school_id* is an accepted member of *trust_id*."""
        return any(
            m.trust_id == trust_id and m.is_member
            for m in self.memberships_by_school.get(school_id, {}).values()
        )

    def member_schools(self, trust_id: str) -> list[str]:
        """Schools that are accepted members of the trust, sorted."""
        return sorted(
            s
            for s, ms in self.memberships_by_school.items()
            if s in self.records.schools
            and any(m.trust_id == trust_id and m.is_member for m in ms.values())
        )

    def designated(self, trust_id: str) -> bool:
        """False if the catalogue needs a designated trust and this one is not designated."""
        if not self.catalogue.requires_designated_trust:
            return True
        trust = self.records.trusts.get(trust_id)
        return trust is not None and trust.designated_academy_trust

    def reachable_schools(self, trust_id: str) -> list[str]:
        """Schools the trust's roles can reach: accepted members (of a designated trust, if needed)."""
        return self.member_schools(trust_id) if self.designated(trust_id) else []

    def active_account(self, account_id: str) -> Account | None:
        """The account if it exists and is active."""
        acct = self.records.accounts.get(account_id)
        return acct if acct is not None and acct.status is AccountStatus.ACTIVE else None

    def trust_roles(self, account: Account) -> list[RoleAssignment]:
        """The account's trust-role assignments in its own trust (known roles only)."""
        roles = self.catalogue.roles
        return [
            a
            for a in self.by_account.get(account.id, {}).values()
            if a.school_id is None
            and a.trust_id == account.trust_id
            and a.role in roles
            and roles[a.role].scope is RoleScope.TRUST
        ]

    def access(self, account_id: str, at: datetime, only_school: str | None = None) -> _Access:
        """Everything *account_id* holds at *at*: ``{school or None: {permission: paths}}``.

        With *only_school*, just that school's entry (the trust entry is left out).
        """
        acct = self.active_account(account_id)
        if acct is None:
            return {}
        cat = self.catalogue
        out: dict[str | None, dict[str, list[AccessPath]]] = {}
        trust_asgs: list[RoleAssignment] = []
        for a in sorted(self.by_account.get(account_id, {}).values(), key=lambda x: x.id):
            role = cat.roles.get(a.role)
            if role is None:
                continue
            if a.school_id is not None:
                if (
                    role.scope is not RoleScope.SCHOOL
                    or a.school_id not in self.records.schools
                    or (only_school is not None and a.school_id != only_school)
                ):
                    continue
                path = AccessPath(
                    role=a.role, scope="school", assignment_id=a.id, school_id=a.school_id
                )
                cell = out.setdefault(a.school_id, {})
                for p in cat._effective[a.role]:
                    cell.setdefault(p, []).append(path)
            elif role.scope is RoleScope.TRUST and a.trust_id == acct.trust_id:
                trust_asgs.append(a)
        if trust_asgs:
            if only_school is None:
                top = out.setdefault(None, {})
                for a in trust_asgs:
                    path = AccessPath(
                        role=a.role,
                        scope="trust",
                        assignment_id=a.id,
                        school_id=None,
                        trust_id=a.trust_id,
                    )
                    for p in cat._effective[a.role]:
                        top.setdefault(p, []).append(path)
                schools = self.reachable_schools(acct.trust_id)
            elif (
                only_school in self.records.schools
                and self.designated(acct.trust_id)
                and self.is_member(acct.trust_id, only_school)
            ):
                schools = [only_school]
            else:
                schools = []
            for school_id in schools:
                cell = out.setdefault(school_id, {})
                self._trust_part(account_id, trust_asgs, school_id, at, cell)
                if not cell:
                    del out[school_id]
        return {s: {p: tuple(paths) for p, paths in cell.items()} for s, cell in out.items()}

    def _trust_part(
        self,
        account_id: str,
        trust_asgs: list[RoleAssignment],
        school_id: str,
        at: datetime,
        cell: dict[str, list[AccessPath]],
    ) -> None:
        """Add what the account's trust roles give at one member school (the grant rule)."""
        cat = self.catalogue
        perms = cat.permissions
        trust_id = trust_asgs[0].trust_id
        live = [
            g
            for g in self.grants_by_school.get(school_id, {}).values()
            if g.trust_id == trust_id
            and g.is_live(at)
            and (g.account_ids is None or account_id in g.account_ids)
        ]
        live.sort(key=lambda g: g.id)
        for a in trust_asgs:
            for p in sorted(cat._effective[a.role]):
                perm = perms[p]
                if perm.level is PermissionLevel.TRUST:
                    continue
                if not perm.needs_grant:
                    cell.setdefault(p, []).append(
                        AccessPath(
                            role=a.role,
                            scope="trust",
                            assignment_id=a.id,
                            school_id=school_id,
                            trust_id=a.trust_id,
                            via_membership=True,
                        )
                    )
                    continue
                for g in live:
                    if p in g.permissions:
                        cell.setdefault(p, []).append(
                            AccessPath(
                                role=a.role,
                                scope="trust",
                                assignment_id=a.id,
                                school_id=school_id,
                                trust_id=a.trust_id,
                                grant_id=g.id,
                            )
                        )

    def boundaries(self) -> list[datetime]:
        """Every moment at which some grant starts, expires or is revoked, sorted."""
        found: set[datetime] = set()
        for g in self.records.grants.values():
            for t in (g.granted_at, g.expires_at, g.revoked_at):
                if t is not None:
                    found.add(t)
        return sorted(found)

    def holders(self, permission: str, school_id: str, at: datetime) -> list[str]:
        """Active accounts holding *permission* at *school_id* at *at* (for explanations)."""
        if self.lookup is not None:
            return sorted(self.lookup(school_id, permission))
        candidates = set(self.school_accounts.get(school_id, set()))
        for accounts in self.trust_accounts.values():
            candidates |= accounts
        return sorted(a for a in candidates if permission in self.access(a, at).get(school_id, {}))

    def decide(
        self, account_id: str, permission: str, school_id: str | None, at: datetime
    ) -> Decision:
        """The full decision, computed from the records (no precomputed cells)."""
        self.catalogue.permission(permission)
        access = self.access(account_id, at)
        paths = access.get(school_id, {}).get(permission)
        if paths:
            return Decision(
                allowed=True,
                account_id=account_id,
                permission=permission,
                school_id=school_id,
                paths=paths,
                explainer=_Names(self),
            )
        return self.deny(account_id, permission, school_id, at, access)

    def _grant_analysis(
        self, account_id: str, permission: str, school_id: str, trust_id: str, at: datetime
    ) -> tuple[DenialReason, Grant | None]:
        grants = sorted(
            (
                g
                for g in self.grants_by_school.get(school_id, {}).values()
                if g.trust_id == trust_id
            ),
            key=lambda g: g.id,
        )
        covering = [g for g in grants if g.covers(account_id, permission)]
        revoked = [g for g in covering if g.revoked_at is not None and g.revoked_at <= at]
        expired = [
            g
            for g in covering
            if g.expires_at is not None
            and g.expires_at <= at
            and not (g.revoked_at is not None and g.revoked_at <= at)
        ]
        ended = len(revoked) + len(expired) == len(covering)
        if revoked and ended:
            return DenialReason.GRANT_REVOKED, max(revoked, key=lambda x: (x.revoked_at, x.id))
        if expired and ended:
            return DenialReason.GRANT_EXPIRED, max(expired, key=lambda x: (x.expires_at, x.id))
        live_for_me = any(
            g.is_live(at) and (g.account_ids is None or account_id in g.account_ids) for g in grants
        )
        if live_for_me and not covering:
            return DenialReason.OUTSIDE_GRANT_SCOPE, None
        return DenialReason.NO_GRANT, None

    def classify(
        self,
        account_id: str,
        permission: str,
        school_id: str | None,
        at: datetime,
        access: _Access,
    ) -> tuple[DenialReason, bool]:
        """The denial reason and visibility for a request that is not allowed (cheap)."""
        if school_id is not None and school_id not in self.records.schools:
            return DenialReason.UNKNOWN_SCHOOL, False
        acct = self.active_account(account_id)
        if acct is None:
            return DenialReason.INACTIVE, False
        if school_id is None:
            return DenialReason.NO_ROLE, True
        cat = self.catalogue
        trust_asgs = self.trust_roles(acct)
        member = bool(trust_asgs) and self.is_member(acct.trust_id, school_id)
        visible = bool(access.get(school_id)) or member
        held = any(permission in cat._effective[a.role] for a in trust_asgs)
        if held and cat.permissions[permission].level is PermissionLevel.SCHOOL:
            if not member:
                return DenialReason.SCHOOL_NOT_IN_TRUST, visible
            if not self.designated(acct.trust_id):
                return DenialReason.NO_GRANT, visible
            reason, _ = self._grant_analysis(account_id, permission, school_id, acct.trust_id, at)
            return reason, visible
        return DenialReason.NO_ROLE, visible

    def deny(
        self,
        account_id: str,
        permission: str,
        school_id: str | None,
        at: datetime,
        access: _Access,
        lookup: Callable[[], Callable[[str | None, str], Iterable[str]] | None] | None = None,
    ) -> Decision:
        """A denial: reason and visibility now, the missing fact worked out when first read.

        *lookup* returns the index's precomputed holders while they are still current.
        """
        reason, visible = self.classify(account_id, permission, school_id, at, access)
        return _denial(
            account_id,
            permission,
            school_id,
            reason,
            visible,
            _Explainer(self, at, lookup),
        )

    def missing(
        self,
        account_id: str,
        permission: str,
        school_id: str | None,
        at: datetime,
        reason: DenialReason,
    ) -> MissingFact | None:
        """The smallest fact that would flip a denial, and who can supply it."""
        cat = self.catalogue
        if reason is DenialReason.UNKNOWN_SCHOOL:
            return None
        acct = self.records.accounts.get(account_id)
        if reason is DenialReason.INACTIVE:
            status = "unknown" if acct is None else acct.status.value
            managers = (
                ()
                if acct is None or cat.manage_permission is None
                else tuple(self._trust_managers(acct.trust_id, at))
            )
            return MissingFact.rendered(
                "activation",
                lambda n: (
                    f"account {n(account_id, account_id)} is {status}; it must be active first"
                ),
                roles=cat.roles_granting(cat.manage_permission) if cat.manage_permission else (),
                accounts=managers,
            )
        assert acct is not None
        trust_id = acct.trust_id
        trust = self.records.trusts.get(trust_id)
        trust_name = trust.name if trust is not None else trust_id
        school = None if school_id is None else self.records.schools.get(school_id)
        if school_id is None or school is None:
            return self._role_fact(account_id, permission, trust_id, None, at)
        school_name = school.name

        def names(n: Namer) -> tuple[str, str, str]:
            """The account, the school and the trust as *n* shows them."""
            return n(account_id, account_id), n(school_id, school_name), n(trust_id, trust_name)

        if reason is DenialReason.SCHOOL_NOT_IN_TRUST:
            coordinators = self._grant_holders(school_id, at)
            supplier = self._supplier_text(coordinators, "accept the trust's invitation")

            def not_member(n: Namer) -> str:
                _, where, trust = names(n)
                return f"{where} is not an accepted member of trust {trust}{supplier(n)}"

            return MissingFact.rendered(
                "membership",
                not_member,
                roles=self._grant_roles(),
                accounts=tuple(coordinators),
            )
        if reason is DenialReason.NO_GRANT and not self.designated(trust_id):

            def not_designated(n: Namer) -> str:
                _, where, trust = names(n)
                return (
                    f"trust {trust} is not designated as an academy trust, so "
                    f"{where} cannot grant it access; the trust must be designated first"
                )

            return MissingFact.rendered("designation", not_designated)
        if reason is not DenialReason.NO_ROLE:
            _, g = self._grant_analysis(account_id, permission, school_id, trust_id, at)
            grant_id = None if g is None else g.id
            coordinators = self._grant_holders(school_id, at)
            supplier = self._supplier_text(coordinators, "grant it")

            def no_grant(n: Namer) -> str:
                who, where, trust = names(n)
                if reason is DenialReason.GRANT_REVOKED and grant_id is not None:
                    text = (
                        f"{where} revoked grant {grant_id} giving trust {trust} "
                        f"`{permission}` for {who}"
                    )
                elif reason is DenialReason.GRANT_EXPIRED and grant_id is not None:
                    text = (
                        f"{where}'s grant {grant_id} giving trust {trust} `{permission}` "
                        f"for {who} has expired"
                    )
                elif reason is DenialReason.OUTSIDE_GRANT_SCOPE:
                    text = (
                        f"{where}'s grant to trust {trust} does not include "
                        f"`{permission}` for {who}"
                    )
                else:
                    text = f"{where} has not granted trust {trust} `{permission}` for {who}"
                return text + supplier(n)

            return MissingFact.rendered(
                "grant",
                no_grant,
                roles=self._grant_roles(),
                accounts=tuple(coordinators),
            )
        return self._role_fact(account_id, permission, trust_id, school, at)

    def _role_fact(
        self, account_id: str, permission: str, trust_id: str, school: School | None, at: datetime
    ) -> MissingFact:
        """A missing role (at the trust when *school* is ``None``) and who can assign it."""
        cat = self.catalogue
        if school is None:
            roles = cat.roles_granting(permission, RoleScope.TRUST)
            hint = f"; a trust role such as {roles[0]!r} gives it" if roles else ""
        else:
            roles = cat.roles_granting(permission, RoleScope.SCHOOL) or cat.roles_granting(
                permission
            )
            hint = f"; the role {roles[0]!r} gives it" if roles else ""

        def lead(n: Namer) -> str:
            who = n(account_id, account_id)
            if school is None:
                return f"{who} holds no trust role with `{permission}`{hint}"
            return f"{who} holds no role with `{permission}` at {n(school.id, school.name)}{hint}"

        mp = cat.manage_permission
        if mp is None:
            return MissingFact.rendered("role", lead, roles=roles)
        if school is None:
            assigners = self._trust_managers(trust_id, at)
        else:
            assigners = self.holders(mp, school.id, at)
        where = "the trust" if school is None else "the school"

        def role_fact(n: Namer) -> str:
            who = _names(assigners, n) if assigners else "none yet"
            return f"{lead(n)}; an account with `{mp}` at {where} can assign it ({who})"

        return MissingFact.rendered("role", role_fact, roles=roles, accounts=tuple(assigners))

    def _grant_roles(self) -> tuple[str, ...]:
        gp = self.catalogue.grant_permission
        return () if gp is None else self.catalogue.roles_granting(gp, RoleScope.SCHOOL)

    def _grant_holders(self, school_id: str, at: datetime) -> list[str]:
        gp = self.catalogue.grant_permission
        if gp is None:
            return []
        if self.lookup is not None:
            return sorted(
                a
                for a in self.lookup(school_id, gp)
                if a in self.school_accounts.get(school_id, ())
            )
        return [
            a
            for a in sorted(self.school_accounts.get(school_id, set()))
            if gp in self.access(a, at).get(school_id, {})
        ]

    def _supplier_text(self, holders: list[str], what: str) -> Callable[[Namer], str]:
        """Renders "; its <role> can <what> (<holders>)" (empty if no role can)."""
        roles = self._grant_roles()
        if not roles:
            return lambda _n: ""
        head = f"; its {' or '.join(roles)} can {what}"
        if not holders:
            return lambda _n: f"{head} (no one holds that role yet)"
        return lambda n: f"{head} ({_names(holders, n)})"

    def _trust_managers(self, trust_id: str, at: datetime) -> list[str]:
        mp = self.catalogue.manage_permission
        if mp is None:
            return []
        if self.lookup is not None:
            return sorted(
                a for a in self.lookup(None, mp) if a in self.trust_accounts.get(trust_id, ())
            )
        return [
            a
            for a in sorted(self.trust_accounts.get(trust_id, set()))
            if mp in self.access(a, at).get(None, {})
        ]


def _allowed(account_id: str, school_id: str | None, cell: _Cell, names: _Names) -> _Allowed:
    """The allow decisions of one (account, school), one per permission held there."""
    return {
        p: Decision(
            allowed=True,
            account_id=account_id,
            permission=p,
            school_id=school_id,
            paths=paths,
            explainer=names,
        )
        for p, paths in cell.items()
    }


class _Names:
    """The explainer of allows: no missing fact, and the school and trust names for
    ``Decision.explain`` (``place_name``)."""

    __slots__ = ("place_name",)

    def __init__(self, view: _View) -> None:
        self.place_name = view.place_name

    def __call__(self, decision: Decision) -> MissingFact | None:
        return None


class _Explainer:
    """Works out a denial's missing fact when first read (shared by every denial of one moment).

    *lookup* hands the view the index's precomputed holders while they are still current;
    ``place_name`` gives ``Decision.explain`` the school and trust names.
    """

    __slots__ = ("_at", "_lookup", "_view", "place_name")

    def __init__(
        self,
        view: _View,
        at: datetime,
        lookup: Callable[[], Callable[[str | None, str], Iterable[str]] | None] | None,
    ) -> None:
        self._view = view
        self._at = at
        self._lookup = lookup
        self.place_name = view.place_name

    def __call__(self, decision: Decision) -> MissingFact | None:
        view = self._view
        assert decision.reason is not None
        view.lookup = None if self._lookup is None else self._lookup()
        try:
            return view.missing(
                decision.account_id,
                decision.permission,
                decision.school_id,
                self._at,
                decision.reason,
            )
        finally:
            view.lookup = None


class AccessIndex:
    """Precomputed access for a trust's accounts; answers checks, lists, history and previews.

    Build it with :meth:`build` (from records), :meth:`from_store` or :meth:`from_unit_of_work`.
    The index is evaluated at ``now``; pass a :class:`~schoolsync.ports.Clock` to follow real
    time, or call :meth:`advance` (the domain never reads the system clock itself).

    An index is not safe for concurrent :meth:`apply` calls: serialise changes (one writer), or
    keep one index per worker and apply the same events to each. Building pauses Python's cyclic
    garbage collector (restored afterwards), which halves the build time of large trusts.
    """

    def __init__(
        self,
        catalogue: RoleCatalogue,
        records: AccessRecords,
        *,
        now: datetime,
        clock: Clock | None = None,
        history: Sequence[AuditEvent] = (),
    ) -> None:
        self.catalogue = catalogue
        self._permissions = catalogue.permissions
        self._view = _View(catalogue, records)
        self._names = _Names(self._view)
        self._clock = clock
        self._history: list[AuditEvent] = sorted(history, key=lambda e: e.at)
        self._history_times: list[datetime] = [e.at for e in self._history]
        #: account -> school (``None``: the trust) -> permission -> the allow decision.
        self._cells: dict[str, dict[str | None, _Allowed]] = {}
        self._schools_of: dict[str, dict[str, tuple[str, ...]]] = {}
        self._holders: dict[tuple[str | None, str], set[str]] = {}
        #: The explainer of denials made at (version, now); reset when either changes.
        self._explainer: _Explainer | None = None
        #: Accepted member schools per trust (for visibility), worked out on demand.
        self._members: dict[str, frozenset[str]] = {}
        self._past: tuple[datetime, _View] | None = None
        self._version = 0
        self._active: set[str] = set()
        self._now = now
        self._set_window()
        # Building creates many long-lived objects: pause the cyclic collector meanwhile.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for account_id in records.accounts:
                self._compute(account_id)
        finally:
            if was_enabled:
                gc.enable()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        catalogue: RoleCatalogue,
        records: AccessRecords,
        *,
        now: datetime,
        clock: Clock | None = None,
        history: Iterable[AuditEvent] = (),
    ) -> AccessIndex:
        """An index over *records* (the index keeps and updates them), evaluated at *now*.

        *history* is the audit log (events of access records) that ``at=`` questions undo.
        """
        return cls(catalogue, records, now=now, clock=clock, history=list(history))

    @classmethod
    def from_unit_of_work(
        cls,
        catalogue: RoleCatalogue,
        uow: UnitOfWork,
        *,
        now: datetime,
        clock: Clock | None = None,
    ) -> AccessIndex:
        """An index over the records and the audit log of a unit of work (a store's state)."""
        return cls(
            catalogue,
            AccessRecords.from_unit_of_work(uow),
            now=now,
            clock=clock,
            history=uow.audit.events(),
        )

    @classmethod
    def from_store(
        cls,
        catalogue: RoleCatalogue,
        store: Store,
        *,
        now: datetime,
        clock: Clock | None = None,
    ) -> AccessIndex:
        """An index over a store's committed records and audit log (one read-only unit of work)."""
        with store.unit_of_work() as uow:
            return cls.from_unit_of_work(catalogue, uow, now=now, clock=clock)

    @property
    def records(self) -> AccessRecords:
        """The records the index answers from (read them; change them only through :meth:`apply`)."""
        return self._view.records

    @property
    def account_names(self) -> Mapping[str, str]:
        """Account id -> the account's name, for ``decision.explain(names=index.account_names)``.

        Decisions name schools and trusts by name but accounts by id, so their text holds no
        personal data by default; pass these names where a person reads the text (an admin
        screen), never into logs. A live view of the records: O(1) to get, names looked up on use.
        """
        return _AccountNames(self._view.records.accounts)

    def assignments_of(self, account_id: str) -> list[RoleAssignment]:
        """The account's role assignments, by id."""
        found = self._view.by_account.get(account_id, {})
        return [found[k] for k in sorted(found)]

    def assignments_at(self, school_id: str | None) -> list[RoleAssignment]:
        """Role assignments at a school (``None``: trust roles), by id."""
        found = self._view.by_school.get(school_id, {})
        return [found[k] for k in sorted(found)]

    @property
    def now(self) -> datetime:
        """The moment ``at=None`` questions are answered for."""
        return self._now

    @property
    def history(self) -> tuple[AuditEvent, ...]:
        """The access audit events the index knows, oldest first."""
        return tuple(self._history)

    def events(
        self,
        *,
        account_id: str | None = None,
        school_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Access audit events matching every given filter, oldest first (``until`` exclusive)."""
        return [
            e
            for e in self._history
            if (account_id is None or e.account_id == account_id)
            and (school_id is None or e.school_id == school_id)
            and (since is None or e.at >= since)
            and (until is None or e.at < until)
        ]

    # -- maintenance --------------------------------------------------------------------

    def _set_window(self) -> None:
        bounds = self._view.boundaries()
        i = bisect.bisect_right(bounds, self._now)
        self._window_start = bounds[i - 1] if i > 0 else None
        self._window_end = bounds[i] if i < len(bounds) else None

    def _in_window(self, at: datetime) -> bool:
        return (self._window_start is None or at >= self._window_start) and (
            self._window_end is None or at < self._window_end
        )

    def _forget(self, account_id: str) -> None:
        for school_id, cell in self._cells.pop(account_id, {}).items():
            for p in cell:
                holders = self._holders.get((school_id, p))
                if holders is not None:
                    holders.discard(account_id)
        self._schools_of.pop(account_id, None)
        self._active.discard(account_id)

    def _compute(self, account_id: str) -> None:
        self._forget(account_id)
        if self._view.active_account(account_id) is not None:
            self._active.add(account_id)
        access = self._view.access(account_id, self._now)
        if not access:
            return
        by_perm: dict[str, list[str]] = {}
        mine = self._cells[account_id] = {}
        for school_id, cell in access.items():
            mine[school_id] = _allowed(account_id, school_id, cell, self._names)
            for p in cell:
                self._holders.setdefault((school_id, p), set()).add(account_id)
                if school_id is not None:
                    by_perm.setdefault(p, []).append(school_id)
        self._schools_of[account_id] = {p: tuple(sorted(s)) for p, s in by_perm.items()}

    def advance(self, now: datetime) -> None:
        """Answer ``at=None`` questions for *now* from here on (grants start and expire)."""
        previous, self._now = self._now, now
        self._explainer = None
        if self._in_window(now):
            return
        self._set_window()
        self._changed()
        low, high = min(previous, now), max(previous, now)
        crossed = {
            (g.school_id, g.trust_id)
            for g in self._view.records.grants.values()
            if any(
                t is not None and low < t <= high
                for t in (g.granted_at, g.expires_at, g.revoked_at)
            )
        }
        for school_id, trust_id in sorted(crossed):
            for account_id in sorted(self._view.trust_accounts.get(trust_id, ())):
                self._compute_pair(account_id, school_id)

    def _sync_clock(self) -> None:
        if self._clock is not None:
            now = self._clock.now()
            if now != self._now:
                self.advance(now)

    def apply(self, events: AuditEvent | Iterable[AuditEvent]) -> None:
        """Apply audit events (record changes) and update the accounts they affect."""
        if isinstance(events, AuditEvent):
            events = (events,)
        affected: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        records = self._view.records
        for event in events:
            kind = _kind_of(event.subject_kind)
            if kind is None:
                continue
            before = records.table(kind).get(event.subject_id)
            records.apply_event(event)
            after = records.table(kind).get(event.subject_id)
            accounts, schools = self._view.update(kind, before, after)
            affected |= accounts
            pairs |= schools
            pos = bisect.bisect_right(self._history_times, event.at)
            self._history.insert(pos, event)
            self._history_times.insert(pos, event.at)
            if kind == "grant":
                self._set_window()
        self._changed()
        self._past = None
        for account_id in affected:
            self._compute(account_id)
        for account_id, school_id in pairs:
            if account_id not in affected:
                self._compute_pair(account_id, school_id)

    def _changed(self) -> None:
        """Records or the moment changed: denials made from now on explain from the new state."""
        self._version += 1
        self._explainer = None
        self._members.clear()

    def _compute_pair(self, account_id: str, school_id: str) -> None:
        """Recompute one account's access at one school (after a grant or membership change)."""
        mine = self._cells.setdefault(account_id, {})
        old = mine.pop(school_id, None)
        by_perm = self._schools_of.setdefault(account_id, {})
        if old is not None:
            for p in old:
                holders = self._holders.get((school_id, p))
                if holders is not None:
                    holders.discard(account_id)
                remaining = tuple(x for x in by_perm.get(p, ()) if x != school_id)
                if remaining:
                    by_perm[p] = remaining
                else:
                    by_perm.pop(p, None)
        cell = self._view.access(account_id, self._now, only_school=school_id).get(school_id)
        if cell:
            mine[school_id] = _allowed(account_id, school_id, cell, self._names)
            for p in cell:
                self._holders.setdefault((school_id, p), set()).add(account_id)
                by_perm[p] = tuple(sorted((*by_perm.get(p, ()), school_id)))

    # -- decisions ----------------------------------------------------------------------

    def _view_at(self, at: datetime) -> _View:
        """The view as of *at*: the live one, or one rebuilt by undoing later events."""
        if not self._history_times or at >= self._history_times[-1]:
            return self._view
        if self._past is not None and self._past[0] == at:
            return self._past[1]
        records = self._view.records.copy()
        i = bisect.bisect_right(self._history_times, at)
        for event in reversed(self._history[i:]):
            records.undo_event(event)
        view = _View(self.catalogue, records)
        self._past = (at, view)
        return view

    def check(
        self,
        account_id: str,
        permission: str,
        school_id: str | None = None,
        at: datetime | None = None,
    ) -> Decision:
        """May *account_id* use *permission* at *school_id* (``None``: at the trust itself)?

        Without *at*, answers for :attr:`now` from the precomputed index; with *at*, as of that
        moment (past moments replay the audit log backwards).
        """
        if at is not None:
            return self._check_at(account_id, permission, school_id, at)
        if self._clock is not None:
            self._sync_clock()
        mine = self._cells.get(account_id)
        if mine is None:
            return self._deny_now(account_id, permission, school_id, None, None)
        cell = mine.get(school_id)
        if cell is not None:
            decision = cell.get(permission)
            if decision is not None:
                return decision
        return self._deny_now(account_id, permission, school_id, cell, mine.get(None))

    def _deny_now(
        self,
        account_id: str,
        permission: str,
        school_id: str | None,
        cell: _Allowed | None,
        trust_cell: _Allowed | None,
    ) -> Decision:
        """A denial at :attr:`now`: the reason from precomputed facts, the explanation lazily."""
        perm = self._permissions.get(permission)
        if perm is None:
            self.catalogue.permission(permission)  # raises, naming the nearest permission
        explainer = self._explainer
        if explainer is None:
            explainer = self._explainer = _Explainer(self._view, self._now, self._lookup_provider())
        if cell is not None and trust_cell is None:
            # The common case: an active account with school roles here, none giving it.
            return _denial(account_id, permission, school_id, _NO_ROLE, True, explainer)
        if school_id is None:
            if account_id in self._active:
                return _denial(account_id, permission, None, _NO_ROLE, True, explainer)
            return _denial(account_id, permission, None, _INACTIVE, False, explainer)
        records = self._view.records
        if school_id not in records.schools:
            return _denial(account_id, permission, school_id, _UNKNOWN, False, explainer)
        if account_id not in self._active:
            return _denial(account_id, permission, school_id, _INACTIVE, False, explainer)
        if trust_cell is None:  # no trust role: only the account's school roles count here
            return _denial(account_id, permission, school_id, _NO_ROLE, cell is not None, explainer)
        if permission in trust_cell and perm is not None and perm.level is _SCHOOL_LEVEL:
            # A trust role holds it: membership, designation and the school's grants decide.
            access: _Access = (
                {} if cell is None else {school_id: {p: d.paths for p, d in cell.items()}}
            )
            reason, visible = self._view.classify(
                account_id, permission, school_id, self._now, access
            )
            return _denial(account_id, permission, school_id, reason, visible, explainer)
        visible = cell is not None or school_id in self._member_schools(
            records.accounts[account_id].trust_id
        )
        return _denial(account_id, permission, school_id, _NO_ROLE, visible, explainer)

    def _member_schools(self, trust_id: str) -> frozenset[str]:
        found = self._members.get(trust_id)
        if found is None:
            found = self._members[trust_id] = frozenset(
                school_id
                for school_id, ms in self._view.memberships_by_school.items()
                if any(m.trust_id == trust_id and m.is_member for m in ms.values())
            )
        return found

    def _lookup(self, school_id: str | None, permission: str) -> Iterable[str]:
        return self._holders.get((school_id, permission), ())

    def _lookup_provider(
        self,
    ) -> Callable[[], Callable[[str | None, str], Iterable[str]] | None]:
        version = self._version

        def provide() -> Callable[[str | None, str], Iterable[str]] | None:
            return self._lookup if self._version == version else None

        return provide

    def _check_at(
        self, account_id: str, permission: str, school_id: str | None, at: datetime
    ) -> Decision:
        view = self._view_at(at)
        if view is self._view and self._in_window(at):
            cell = self._cells.get(account_id, {}).get(school_id)
            if cell is not None and permission in cell:
                return cell[permission]
        return view.decide(account_id, permission, school_id, at)

    def check_many(
        self,
        requests: Iterable[AccessRequest | tuple[str, str, str | None]],
        at: datetime | None = None,
    ) -> list[Decision]:
        """One decision per request, in order (duplicates answered each time)."""
        out = []
        for r in requests:
            if isinstance(r, AccessRequest):
                out.append(self.check(r.account_id, r.permission, r.school_id, at))
            else:
                out.append(self.check(r[0], r[1], r[2], at))
        return out

    # -- lists --------------------------------------------------------------------------

    def schools_with(
        self, account_id: str, permission: str, at: datetime | None = None
    ) -> tuple[str, ...]:
        """Every school (sorted ids) where *account_id* holds *permission*; exact, never truncated."""
        self.catalogue.permission(permission)
        if at is None:
            if self._clock is not None:
                self._sync_clock()
            return self._schools_of.get(account_id, {}).get(permission, ())
        access = self._view_at(at).access(account_id, at)
        return tuple(
            sorted(s for s, cell in access.items() if s is not None and permission in cell)
        )

    def accounts_with(
        self, permission: str, school_id: str | None, at: datetime | None = None
    ) -> tuple[str, ...]:
        """Every account (sorted ids) holding *permission* at *school_id* (``None``: the trust)."""
        self.catalogue.permission(permission)
        if at is None:
            if self._clock is not None:
                self._sync_clock()
            return tuple(sorted(self._holders.get((school_id, permission), ())))
        view = self._view_at(at)
        return tuple(
            sorted(
                a
                for a in view.records.accounts
                if permission in view.access(a, at).get(school_id, {})
            )
        )

    def access_table(self, account_id: str, at: datetime | None = None) -> AccessTable:
        """The account's whole access, one row per (school, permission), for an admin screen."""
        if at is None:
            if self._clock is not None:
                self._sync_clock()
            access: _Access = {
                s: {p: d.paths for p, d in cell.items()}
                for s, cell in self._cells.get(account_id, {}).items()
            }
        else:
            access = self._view_at(at).access(account_id, at)
        entries = tuple(
            (s, p, access[s][p])
            for s in sorted(access, key=lambda x: (x is not None, x or ""))
            for p in sorted(access[s])
        )
        return AccessTable(account_id=account_id, entries=entries)

    def access_of(self, account_id: str) -> frozenset[tuple[str | None, str]]:
        """Every (school or ``None``, permission) pair the account holds now."""
        return frozenset(
            (s, p) for s, cell in self._cells.get(account_id, {}).items() for p in cell
        )

    # -- previews -----------------------------------------------------------------------

    def preview(self, events: AuditEvent | Iterable[AuditEvent]) -> AccessDiff:
        """The access diff the events would cause, without applying them.

        Compared at :attr:`now`, or at the latest event's time if that is later (so a
        revocation dated a moment from now shows what it removes).
        """
        if isinstance(events, AuditEvent):
            events = (events,)
        events = list(events)
        at = max([self._now, *(e.at for e in events)])
        records = self._view.records.copy()
        view = _View(self.catalogue, records)
        affected: set[str] = set()
        for event in events:
            kind = _kind_of(event.subject_kind)
            if kind is None:
                continue
            before = records.table(kind).get(event.subject_id)
            records.apply_event(event)
            after = records.table(kind).get(event.subject_id)
            accounts, pairs = view.update(kind, before, after)
            affected |= accounts | {a for a, _ in pairs}
        gained: list[AccessChange] = []
        lost: list[AccessChange] = []
        same_moment = at == self._now
        for account_id in sorted(affected):
            if same_moment:
                old = self.access_of(account_id)
            else:
                old_access = self._view.access(account_id, at)
                old = frozenset((s, p) for s, cell in old_access.items() for p in cell)
            new_access = view.access(account_id, at)
            new = frozenset((s, p) for s, cell in new_access.items() for p in cell)
            for s, p in sorted(new - old, key=lambda x: (x[0] or "", x[1])):
                gained.append(AccessChange(account_id=account_id, school_id=s, permission=p))
            for s, p in sorted(old - new, key=lambda x: (x[0] or "", x[1])):
                lost.append(AccessChange(account_id=account_id, school_id=s, permission=p))
        return AccessDiff(gained=tuple(gained), lost=tuple(lost))
