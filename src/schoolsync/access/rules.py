"""The access rule: what an account may use where, in one module.

Used by the access index (:class:`~schoolsync.access.AccessIndex`, which caches its answers and
replays the audit log for past moments) and by the trust-wide views (:mod:`schoolsync.views`).

1. **A school role acts at its own school**: the permissions of the role and of every role it
   implies (:meth:`~schoolsync.access.RoleCatalogue.effective_permissions`).
2. **A trust role acts at the trust** (``school=None``) with all its permissions, and at each
   school that is an accepted member of the trust (of a designated academy trust, when the
   catalogue says ``requires_designated_trust``) with its school-level permissions:

   * a permission that needs a grant (``Permission.needs_grant``, the default) only while a
     live grant from that school covers it for this account (:func:`grant_allows`: the grant
     names the whole trust or the account, is given, not revoked and not expired);
   * a permission that needs no grant by the school's membership alone.
3. Trust-level permissions (``PermissionLevel.TRUST``) are never used at a school.
   **The designation rule** is one switch, the catalogue's ``requires_designated_trust``
   (:func:`designation_required`), judged by one function (:func:`trust_is_designated`) for
   checks and trust-wide views alike; its denial is ``NOT_DESIGNATED``, never ``NO_GRANT``.
4. Pending and inactive accounts hold nothing.

When a trust role holds a permission but no grant lets it through, :func:`grant_denial` says
why: the covering grant was revoked, or expired, the school's grant does not include it, or it
was never granted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from schoolsync.access.catalogue import PermissionLevel, RoleCatalogue, RoleScope
from schoolsync.access.decision import AccessPath, DenialReason
from schoolsync.access.records import AccessRecords
from schoolsync.records.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.records.grants import Grant
from schoolsync.records.organisations import Membership
from schoolsync.trusts import trust_is_designated

__all__ = [
    "AccessFacts",
    "catalogue_rules",
    "designation_required",
    "grant_allows",
    "grant_denial",
    "grant_is_for",
    "live_grants_for",
    "trust_is_designated",
]

#: What an account holds at one place: permission -> the paths that give it.
Cell = dict[str, tuple[AccessPath, ...]]
#: What an account holds everywhere: school (``None``: the trust) -> its cell.
Access = dict[str | None, Cell]


def designation_required(catalogue: RoleCatalogue | None, *, views_switch: bool = False) -> bool:
    """THE designation switch: whether trust roles reach schools only in organisations
    designated as academy trusts (the Schoot rule).

    It is the catalogue's ``requires_designated_trust`` (the Schoot preset sets it). A host
    without a catalogue may still switch trust-wide views on with *views_switch*
    (``TrustPolicy.views_need_academy_designation``); with a catalogue the two must agree,
    so checks and views can never judge designation differently.

    Raises:
        ValueError: a catalogue and *views_switch* disagree.
    """
    if catalogue is None:
        return views_switch
    if views_switch and not catalogue.requires_designated_trust:
        raise ValueError(
            "TrustPolicy.views_need_academy_designation is on but the role catalogue's "
            "requires_designated_trust is off: the designation rule is one switch, the "
            "catalogue's (set requires_designated_trust = true, as the Schoot preset does)"
        )
    return catalogue.requires_designated_trust


def grant_is_for(grant: Grant, account_id: str, at: datetime) -> bool:
    """True if *grant* is live at *at* and its scope includes *account_id* (the whole trust,
    or the account named)."""
    return grant.is_live(at) and (grant.account_ids is None or account_id in grant.account_ids)


def live_grants_for(grants: Iterable[Grant], account_id: str, at: datetime) -> list[Grant]:
    """The grants of *grants* that are live for *account_id* at *at*, by id."""
    return sorted((g for g in grants if grant_is_for(g, account_id, at)), key=lambda g: g.id)


def grant_allows(grants: Iterable[Grant], account_id: str, permission: str, at: datetime) -> bool:
    """True if some grant is live at *at* and covers *permission* for *account_id*."""
    return any(permission in g.permissions and grant_is_for(g, account_id, at) for g in grants)


def grant_denial(
    grants: Iterable[Grant], account_id: str, permission: str, at: datetime
) -> tuple[DenialReason, Grant | None]:
    """Why none of a school's *grants* (to the account's trust) lets *permission* through.

    ``GRANT_REVOKED`` / ``GRANT_EXPIRED`` (with the grant) when every grant that covered it
    has been revoked / has expired; ``OUTSIDE_GRANT_SCOPE`` when a grant is live for the
    account but leaves the permission out; ``NO_GRANT`` otherwise (never granted, or only
    granted from a later moment).
    """
    ordered = sorted(grants, key=lambda g: g.id)
    covering = [g for g in ordered if g.covers(account_id, permission)]
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
    if not covering and any(grant_is_for(g, account_id, at) for g in ordered):
        return DenialReason.OUTSIDE_GRANT_SCOPE, None
    return DenialReason.NO_GRANT, None


def catalogue_rules(catalogue: RoleCatalogue) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """From a role catalogue: each trust role's effective permissions, and the permissions a
    trust role may use without a grant (``needs_grant=False``)."""
    role_permissions = {
        name: catalogue.effective_permissions(name)
        for name, role in catalogue.roles.items()
        if role.scope is RoleScope.TRUST
    }
    grant_free = frozenset(p.name for p in catalogue.permissions.values() if not p.needs_grant)
    return role_permissions, grant_free


class AccessFacts:
    """A trust's access records with the lookups the rule needs, and the rule itself.

    The lookups are kept up to date one record change at a time (:meth:`update`), so the
    index recomputes only the accounts a change touches.
    """

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
        return trust_is_designated(
            self.records.trusts.get(trust_id), self.catalogue.requires_designated_trust
        )

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

    def access(self, account_id: str, at: datetime, only_school: str | None = None) -> Access:
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
        live = live_grants_for(self.school_grants(school_id, trust_id), account_id, at)
        for a in trust_asgs:
            for p in sorted(cat._effective[a.role]):
                perm = perms[p]
                if perm.level is PermissionLevel.TRUST:
                    continue
                # Membership alone (no grant needed), or each live grant that covers it.
                grant_ids = (
                    [None] if not perm.needs_grant else [g.id for g in live if p in g.permissions]
                )
                for grant_id in grant_ids:
                    cell.setdefault(p, []).append(
                        AccessPath(
                            role=a.role,
                            scope="trust",
                            assignment_id=a.id,
                            school_id=school_id,
                            trust_id=a.trust_id,
                            grant_id=grant_id,
                            via_membership=grant_id is None,
                        )
                    )

    def school_grants(self, school_id: str, trust_id: str) -> list[Grant]:
        """The grants *school_id* gave *trust_id* (live or not)."""
        return [
            g for g in self.grants_by_school.get(school_id, {}).values() if g.trust_id == trust_id
        ]

    def boundaries(self) -> list[datetime]:
        """Every moment at which some grant starts, expires or is revoked, sorted."""
        found: set[datetime] = set()
        for g in self.records.grants.values():
            for t in (g.granted_at, g.expires_at, g.revoked_at):
                if t is not None:
                    found.add(t)
        return sorted(found)

    def classify(
        self,
        account_id: str,
        permission: str,
        school_id: str | None,
        at: datetime,
        access: Access,
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
                return DenialReason.NOT_DESIGNATED, visible
            grants = self.school_grants(school_id, acct.trust_id)
            reason, _ = grant_denial(grants, account_id, permission, at)
            return reason, visible
        return DenialReason.NO_ROLE, visible
