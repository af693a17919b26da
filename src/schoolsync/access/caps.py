"""The cap rule: how many accounts may hold a role, and how many admins a trust may have.

This is the one place caps are decided. Every path that gives a role goes through
:func:`check_role_caps` (through :meth:`schoolsync.access.admin.AccessAdmin.check_assignment`):
a single edit (``AccessAdmin.assign`` / ``transfer``), a bulk change set
(``schoolsync.bulk.CatalogueChecks``) and the trust lifecycle (``TrustLifecycle.accept_trust_admin``
and ``nominate_trust_admin``).

* A role's holders are the accounts holding it directly **or through a role that implies it**,
  counted per school (``Role.max_per_school``) and per trust (``Role.max_per_trust``); an
  "exactly one" role is capped at one at its own scope (:meth:`~schoolsync.access.Role.cap_at`).
  Giving a role also counts towards the caps of every role it implies.
* A trust's admin places (:attr:`~schoolsync.trusts.Trust.max_trust_admins`) are taken by
  accepted admins and nominations still open (:meth:`~schoolsync.trusts.Trust.admin_places_taken`).
  Both caps apply to a trust admin: the trust's places, and the catalogue's cap on the trust
  admin role (Boost Insights: two Group Admins per trust).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import attrs

from schoolsync.access.accounts import RoleAssignment
from schoolsync.access.catalogue import RoleCatalogue, RoleScope
from schoolsync.errors import CapExceededError
from schoolsync.trusts import Trust

__all__ = ["Holders", "check_role_caps", "check_trust_admin_places", "role_holders"]

#: ``holders(role, school_id)``: the accounts holding *role* at a school (``None``: across the
#: trust), sorted, as :func:`role_holders` counts them.
Holders = Callable[[str, str | None], Sequence[str]]


def role_holders(
    catalogue: RoleCatalogue,
    role: str,
    trust_id: str,
    school_id: str | None,
    assignments: Iterable[RoleAssignment],
) -> list[str]:
    """The accounts (sorted) among *assignments* holding *role* in *trust_id* at *school_id*.

    A holder holds *role* itself or a role implying it; ``school_id=None`` counts across the
    whole trust (every school and the trust roles). Assignments of unknown roles count for nothing.
    """
    found = {
        a.account_id
        for a in assignments
        if a.trust_id == trust_id
        and (school_id is None or a.school_id == school_id)
        and a.role in catalogue.roles
        and catalogue.holders_of(role, (a.role,))
    }
    return sorted(found)


def check_role_caps(
    catalogue: RoleCatalogue,
    role: str,
    *,
    account_id: str,
    trust_id: str,
    school_id: str | None,
    holders: Holders,
) -> None:
    """Refuse giving *role* to *account_id* at *school_id* if it would exceed a cap.

    The caps of *role* and of every role it implies are checked, per school (when
    *school_id* is given) and per trust. An account that already counts as a holder takes no
    new place.

    Raises:
        CapExceededError: naming the capped role, its cap, where, and the current holders.
    """
    for name in (role, *sorted(catalogue.implied_roles(role))):
        capped = catalogue.roles[name]
        places: list[tuple[int | None, str | None, str]] = []
        if school_id is not None:
            places.append((capped.cap_at(RoleScope.SCHOOL), school_id, f"school {school_id}"))
        places.append((capped.cap_at(RoleScope.TRUST), None, f"trust {trust_id}"))
        for cap, where, label in places:
            if cap is None:
                continue
            current = holders(name, where)
            if account_id not in current and len(current) >= cap:
                raise CapExceededError(name, cap, label, current)


def check_trust_admin_places(trust: Trust, account_id: str, at: datetime) -> None:
    """Refuse a new trust-admin nomination of *account_id* if the trust's places are taken.

    A nomination of the same account replaces its open one, so it does not count.

    Raises:
        CapExceededError: the trust's accepted admins and open nominations fill its places.
    """
    others = attrs.evolve(
        trust,
        admin_nominations=tuple(n for n in trust.admin_nominations if n.account_id != account_id),
    )
    if others.admin_places_taken(at) >= trust.max_trust_admins:
        raise CapExceededError(
            "trust admin",
            trust.max_trust_admins,
            f"trust {trust.id}",
            others.admin_place_holders(at),
        )
