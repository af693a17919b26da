"""Denial explanations: the smallest fact that would flip a denial, and who can supply it.

A denial's reason is known at once (:meth:`~schoolsync.access.rules.AccessFacts.classify`); its
:class:`~schoolsync.access.MissingFact` is worked out here only when the decision is first
read (``Decision.missing`` / ``explain``), naming the role, grant, membership, designation or
activation that is missing and the accounts that can supply it (found through the index's
precomputed holders while they are current).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime

from schoolsync.access.catalogue import RoleScope
from schoolsync.access.decision import Decision, DenialReason, MissingFact, Namer, _denial
from schoolsync.access.rules import AccessFacts, Cell, grant_denial
from schoolsync.records.organisations import School

__all__ = [
    "Explainer",
    "Lookup",
    "LookupProvider",
    "PlaceNames",
    "allowed_decisions",
    "decide",
    "deny",
]

#: ``lookup(school_id, permission)``: the accounts holding *permission* there (precomputed).
Lookup = Callable[[str | None, str], Iterable[str]]
#: Returns the index's :data:`Lookup` while its precomputed holders are current, else ``None``.
LookupProvider = Callable[[], Lookup | None]


def _names(ids: Sequence[str], name: Namer, shown: int = 5) -> str:
    """Up to *shown* accounts for a message; the full list stays in ``MissingFact.accounts``."""
    text = ", ".join(name(i, i) for i in ids[:shown])
    return text if len(ids) <= shown else f"{text} and {len(ids) - shown} more"


def allowed_decisions(
    account_id: str, school_id: str | None, cell: Cell, names: PlaceNames
) -> dict[str, Decision]:
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


class PlaceNames:
    """The explainer of allows: no missing fact, and the school and trust names for
    ``Decision.explain`` (``place_name``)."""

    __slots__ = ("place_name",)

    def __init__(self, view: AccessFacts) -> None:
        self.place_name = view.place_name

    def __call__(self, decision: Decision) -> MissingFact | None:
        return None


class Explainer:
    """Works out a denial's missing fact when first read (shared by every denial of one moment).

    *lookup* gives the index's precomputed holders while they are still current;
    ``place_name`` gives ``Decision.explain`` the school and trust names.
    """

    __slots__ = ("_at", "_facts", "_lookup", "place_name")

    def __init__(self, facts: AccessFacts, at: datetime, lookup: LookupProvider | None) -> None:
        self._facts = facts
        self._at = at
        self._lookup = lookup
        self.place_name = facts.place_name

    def __call__(self, decision: Decision) -> MissingFact | None:
        assert decision.reason is not None
        lookup = None if self._lookup is None else self._lookup()
        return _Explanation(self._facts, lookup).missing(
            decision.account_id,
            decision.permission,
            decision.school_id,
            self._at,
            decision.reason,
        )


def decide(
    facts: AccessFacts, account_id: str, permission: str, school_id: str | None, at: datetime
) -> Decision:
    """The full decision, computed from the records (no precomputed cells)."""
    facts.catalogue.permission(permission)
    access = facts.access(account_id, at)
    paths = access.get(school_id, {}).get(permission)
    if paths:
        return Decision(
            allowed=True,
            account_id=account_id,
            permission=permission,
            school_id=school_id,
            paths=paths,
            explainer=PlaceNames(facts),
        )
    return deny(facts, account_id, permission, school_id, at, access)


def deny(
    facts: AccessFacts,
    account_id: str,
    permission: str,
    school_id: str | None,
    at: datetime,
    access: dict[str | None, Cell],
    lookup: LookupProvider | None = None,
) -> Decision:
    """A denial: reason and visibility now, the missing fact worked out when first read.

    *lookup* returns the index's precomputed holders while they are still current.
    """
    reason, visible = facts.classify(account_id, permission, school_id, at, access)
    return _denial(account_id, permission, school_id, reason, visible, Explainer(facts, at, lookup))


class _Explanation:
    """The missing fact of one denial, over *facts* (and the index's holders, if current)."""

    def __init__(self, facts: AccessFacts, lookup: Lookup | None) -> None:
        self.facts = facts
        self.lookup = lookup

    def holders(self, permission: str, school_id: str, at: datetime) -> list[str]:
        """Active accounts holding *permission* at *school_id* at *at* (for explanations)."""
        if self.lookup is not None:
            return sorted(self.lookup(school_id, permission))
        candidates = set(self.facts.school_accounts.get(school_id, set()))
        for accounts in self.facts.trust_accounts.values():
            candidates |= accounts
        return sorted(
            a for a in candidates if permission in self.facts.access(a, at).get(school_id, {})
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
        cat = self.facts.catalogue
        if reason is DenialReason.UNKNOWN_SCHOOL:
            return None
        acct = self.facts.records.accounts.get(account_id)
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
        trust = self.facts.records.trusts.get(trust_id)
        trust_name = trust.name if trust is not None else trust_id
        school = None if school_id is None else self.facts.records.schools.get(school_id)
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
        if reason is DenialReason.NOT_DESIGNATED:

            def not_designated(n: Namer) -> str:
                _, where, trust = names(n)
                return (
                    f"trust {trust} is not designated as an academy trust, so "
                    f"{where} cannot grant it access; the trust must be designated first"
                )

            return MissingFact.rendered("designation", not_designated)
        if reason is not DenialReason.NO_ROLE:
            grants = self.facts.school_grants(school_id, trust_id)
            _, g = grant_denial(grants, account_id, permission, at)
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
        cat = self.facts.catalogue
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
        gp = self.facts.catalogue.grant_permission
        return () if gp is None else self.facts.catalogue.roles_granting(gp, RoleScope.SCHOOL)

    def _holders_among(
        self, permission: str | None, place: str | None, candidates: Collection[str], at: datetime
    ) -> list[str]:
        """The *candidates* (sorted) holding *permission* at *place* (``None``: the trust)."""
        if permission is None:
            return []
        if self.lookup is not None:
            return sorted(a for a in self.lookup(place, permission) if a in candidates)
        return [
            a for a in sorted(candidates) if permission in self.facts.access(a, at).get(place, {})
        ]

    def _grant_holders(self, school_id: str, at: datetime) -> list[str]:
        """The school's accounts that can grant (or accept an invitation) there."""
        gp = self.facts.catalogue.grant_permission
        return self._holders_among(
            gp, school_id, self.facts.school_accounts.get(school_id, set()), at
        )

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
        """The trust's accounts that can manage users across the trust."""
        mp = self.facts.catalogue.manage_permission
        return self._holders_among(mp, None, self.facts.trust_accounts.get(trust_id, set()), at)
