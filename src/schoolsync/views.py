"""Trust-wide views: which schools a trust account may see, and reports that only ask those.

The rule (pure, in :func:`view_from_records`, the trust route of the access rule in
:mod:`schoolsync.access.rules`, whose :func:`grant_allows` it uses): a trust account sees a
school for a permission only if

1. the trust offers trust-wide views at all: the designation rule, the same switch and the
   same rule the access checks use (the catalogue's ``requires_designated_trust``, see
   :func:`~schoolsync.access.rules.designation_required`); a school left out for it says
   ``NOT_DESIGNATED``,
2. the account is active and belongs to the trust,
3. the school is an accepted member of the trust,
4. the account holds the permission through its trust roles, and
5. where the permission needs one, a live grant from that school covers the permission for this
   account (a grant to the whole trust, or one naming the account).

Every school of the trust the account cannot see is returned beside the view with the reason
(:class:`ExclusionReason`). :func:`trust_report` calls the host's per-school data providers for
the schools in view only; :func:`comparison_report` compares the schools in view (a permission
the catalogue lets trust roles use by membership alone, such as Boost Insights' reports, needs no
grant), optionally only for accounts holding a trust-level "compare" permission.

A host with a role catalogue and access index (``schoolsync.access``) passes its ``check`` as
*check*; the view then also requires that check to allow each school (both must agree). A
check bound to an ``AccessIndex`` brings its catalogue (and so the designation switch) with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

import attrs

from schoolsync.access.accounts import Account, AccountStatus
from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.decision import DenialReason
from schoolsync.access.grants import Grant
from schoolsync.access.rules import (
    catalogue_rules,
    designation_required,
    grant_allows,
    grant_denial,
)
from schoolsync.ports import UnitOfWork
from schoolsync.tables import Tabular
from schoolsync.trusts import (
    PENDING_STATUSES,
    Membership,
    MembershipStatus,
    Trust,
    TrustPolicy,
    trust_is_designated,
)

__all__ = [
    "AccessCheck",
    "Exclusion",
    "ExclusionReason",
    "TrustReport",
    "TrustView",
    "catalogue_rules",
    "comparison_report",
    "gather",
    "grant_allows",
    "grant_gap",
    "schools_in_view",
    "trust_permissions_of",
    "trust_report",
    "view_from_records",
]

T = TypeVar("T")


class ExclusionReason(StrEnum):
    """Why a school is left out of a trust-wide view.

    ``NOT_DESIGNATED``: the designation rule (the trust is not designated as an academy trust
    and the switch requires it); ``VIEWS_NOT_OFFERED`` is its older name (the same member;
    the old value ``"views_not_offered"`` still reads as it).
    """

    NOT_DESIGNATED = "not_designated"
    VIEWS_NOT_OFFERED = "not_designated"
    ACCOUNT_NOT_ACTIVE = "account_not_active"
    NOT_A_MEMBER = "not_a_member"
    INVITATION_PENDING = "invitation_pending"
    NO_ROLE = "no_role"
    NO_GRANT = "no_grant"
    DENIED = "denied"
    NO_DATA = "no_data"

    @classmethod
    def _missing_(cls, value: object) -> ExclusionReason | None:
        return cls.NOT_DESIGNATED if value == "views_not_offered" else None


@attrs.frozen(kw_only=True)
class Exclusion:
    """A school left out of a view or report, with the reason and a short explanation."""

    school_id: str
    reason: ExclusionReason
    detail: str = ""


class AccessCheck(Protocol):
    """A host's access decision: truthy when *account_id* may use *permission* at *school_id*."""

    def __call__(self, account_id: str, permission: str, school_id: str, at: datetime) -> object:
        """Decide (any truthy value, such as an allowing ``Decision``, allows)."""
        ...


@attrs.frozen(kw_only=True)
class TrustView(Tabular):
    """The schools *account_id* may see for *permission* at *at*, and those left out and why."""

    account_id: str
    trust_id: str
    permission: str
    at: datetime
    school_ids: tuple[str, ...]
    excluded: tuple[Exclusion, ...]
    #: School id -> name, for the HTML table (filled by :func:`schools_in_view`).
    school_names: Mapping[str, str] = attrs.field(factory=dict, eq=False, repr=False)

    def school_label(self, school_id: str) -> str:
        """The school's name where the view knows it, else its id."""
        return self.school_names.get(school_id, school_id)

    def includes(self, school_id: str) -> bool:
        """True if the school is in view."""
        return school_id in self.school_ids

    def reason_for(self, school_id: str) -> ExclusionReason | None:
        """Why the school is left out (``None`` if it is in view or unknown to the trust)."""
        for exclusion in self.excluded:
            if exclusion.school_id == school_id:
                return exclusion.reason
        return None

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per school: ``school_id``, ``in_view``, ``reason``, ``detail``."""
        rows: list[dict[str, Any]] = [
            {"school_id": s, "in_view": True, "reason": None, "detail": ""} for s in self.school_ids
        ]
        rows.extend(
            {
                "school_id": e.school_id,
                "in_view": False,
                "reason": e.reason.value,
                "detail": e.detail,
            }
            for e in self.excluded
        )
        return rows

    def display_rows(self) -> list[dict[str, Any]]:
        """:meth:`to_rows` with each school's name (where known) in place of its id."""
        return [
            {"school": self.school_label(row.pop("school_id")), **row} for row in self.to_rows()
        ]

    def table_caption(self) -> str | None:
        """Names the account and permission."""
        return f"Schools {self.account_id} may see for {self.permission}"


_GRANT_GAPS = {
    DenialReason.GRANT_REVOKED: "the school's grant was revoked",
    DenialReason.GRANT_EXPIRED: "the school's grant has expired",
    DenialReason.OUTSIDE_GRANT_SCOPE: "outside the scope of the school's grant",
}


def grant_gap(grants: Iterable[Grant], account_id: str, permission: str, at: datetime) -> str:
    """Why no grant covers the request, as the access index judges it
    (:func:`~schoolsync.access.rules.grant_denial`): "revoked", "expired", "outside the
    grant's scope", "starts later" (a covering grant not given yet) or "not granted"."""
    grants = list(grants)
    reason, _ = grant_denial(grants, account_id, permission, at)
    gap = _GRANT_GAPS.get(reason)
    if gap is not None:
        return gap
    if any(g.covers(account_id, permission) for g in grants):
        return "the school's grant starts later"
    return "the school has not granted this"


_DENIAL_TO_EXCLUSION = {
    "inactive": ExclusionReason.ACCOUNT_NOT_ACTIVE,
    "no_role": ExclusionReason.NO_ROLE,
    "no_grant": ExclusionReason.NO_GRANT,
    "grant_revoked": ExclusionReason.NO_GRANT,
    "grant_expired": ExclusionReason.NO_GRANT,
    "outside_grant_scope": ExclusionReason.NO_GRANT,
    "not_designated": ExclusionReason.NOT_DESIGNATED,
    "school_not_in_trust": ExclusionReason.NOT_A_MEMBER,
    "unknown_school": ExclusionReason.NOT_A_MEMBER,
}


def _exclusion_from_decision(school_id: str, decision: object) -> Exclusion:
    """A denial of the host's check as an exclusion (a ``Decision``'s reason is mapped)."""
    reason = getattr(decision, "reason", None)
    mapped = _DENIAL_TO_EXCLUSION.get(str(getattr(reason, "value", reason)), ExclusionReason.DENIED)
    explain = getattr(decision, "explain", None)
    detail = explain() if callable(explain) else str(decision)
    return Exclusion(school_id=school_id, reason=mapped, detail=str(detail))


def view_from_records(
    account: Account,
    permission: str,
    *,
    trust: Trust,
    memberships: Iterable[Membership],
    grants: Iterable[Grant],
    at: datetime,
    trust_permissions: Collection[str] | None,
    needs_grant: bool = True,
    policy: TrustPolicy | None = None,
    check: AccessCheck | None = None,
    requires_designation: bool | None = None,
) -> TrustView:
    """The pure view rule over records (see the module docstring).

    Args:
        trust_permissions: the permissions *account* holds through its trust roles; ``None``
            leaves the role question to *check* (then *check* is required).
        needs_grant: whether *permission* needs the school's grant (``False``: membership and
            role alone are enough).
        check: a host access check that must also allow each school.
        requires_designation: the designation switch (the catalogue's
            ``requires_designated_trust``); ``None`` takes it from *policy*.

    Raises:
        ValueError: neither *trust_permissions* nor *check* was given.
    """
    if trust_permissions is None and check is None:
        raise ValueError("give trust_permissions, check, or both")
    policy = policy or TrustPolicy()
    if requires_designation is None:
        requires_designation = designation_required(
            None, views_switch=policy.views_need_academy_designation
        )
    by_school: dict[str, Membership] = {}
    for m in memberships:
        if m.trust_id == trust.id:
            by_school[m.school_id] = m
    grants_by_school: dict[str, list[Grant]] = {}
    for g in grants:
        if g.trust_id == trust.id:
            grants_by_school.setdefault(g.school_id, []).append(g)

    included: list[str] = []
    excluded: list[Exclusion] = []
    blanket: tuple[ExclusionReason, str] | None = None
    if not trust_is_designated(trust, requires_designation):
        blanket = (
            ExclusionReason.NOT_DESIGNATED,
            "the trust is not designated as an academy trust; trust-wide views need the "
            "designation",
        )
    elif account.status is not AccountStatus.ACTIVE:
        blanket = (ExclusionReason.ACCOUNT_NOT_ACTIVE, f"the account is {account.status.value}")
    elif account.trust_id != trust.id:
        blanket = (ExclusionReason.NOT_A_MEMBER, "the account belongs to another trust")

    for school_id in sorted(by_school):
        m = by_school[school_id]
        if blanket is not None:
            excluded.append(Exclusion(school_id=school_id, reason=blanket[0], detail=blanket[1]))
            continue
        if m.status in PENDING_STATUSES:
            detail = (
                "the invitation has not been sent"
                if m.status is MembershipStatus.INVITATION_NOT_SENT
                else "the school has not accepted the invitation yet"
            )
            if m.invitation_expires_at is not None and m.invitation_expires_at <= at:
                excluded.append(
                    Exclusion(
                        school_id=school_id,
                        reason=ExclusionReason.NOT_A_MEMBER,
                        detail="the invitation expired",
                    )
                )
                continue
            excluded.append(
                Exclusion(
                    school_id=school_id, reason=ExclusionReason.INVITATION_PENDING, detail=detail
                )
            )
            continue
        if m.status is not MembershipStatus.ACCEPTED:
            excluded.append(
                Exclusion(
                    school_id=school_id,
                    reason=ExclusionReason.NOT_A_MEMBER,
                    detail=f"membership {m.status.value}",
                )
            )
            continue
        if trust_permissions is not None and permission not in trust_permissions:
            excluded.append(
                Exclusion(
                    school_id=school_id,
                    reason=ExclusionReason.NO_ROLE,
                    detail=f"no trust role of the account includes {permission}",
                )
            )
            continue
        school_grants = grants_by_school.get(school_id, [])
        if needs_grant and not grant_allows(school_grants, account.id, permission, at):
            excluded.append(
                Exclusion(
                    school_id=school_id,
                    reason=ExclusionReason.NO_GRANT,
                    detail=grant_gap(school_grants, account.id, permission, at),
                )
            )
            continue
        if check is not None:
            decision = check(account.id, permission, school_id, at)
            if not decision:
                excluded.append(_exclusion_from_decision(school_id, decision))
                continue
        included.append(school_id)
    return TrustView(
        account_id=account.id,
        trust_id=trust.id,
        permission=permission,
        at=at,
        school_ids=tuple(included),
        excluded=tuple(excluded),
    )


def trust_permissions_of(
    uow: UnitOfWork, account_id: str, trust_id: str, role_permissions: Mapping[str, Collection[str]]
) -> frozenset[str]:
    """The permissions *account_id* holds through its trust-wide role assignments.

    *role_permissions* maps each trust role name to its permissions (implied roles already
    expanded); roles it does not list give nothing.
    """
    held: set[str] = set()
    for a in uow.assignments.list():
        if a.account_id == account_id and a.trust_id == trust_id and a.school_id is None:
            held.update(role_permissions.get(a.role, ()))
    return frozenset(held)


def schools_in_view(
    account: Account | str,
    permission: str,
    *,
    uow: UnitOfWork,
    at: datetime,
    role_permissions: Mapping[str, Collection[str]] | None = None,
    grant_free_permissions: Collection[str] = (),
    check: AccessCheck | None = None,
    policy: TrustPolicy | None = None,
    catalogue: RoleCatalogue | None = None,
    grants_required: bool = False,
) -> TrustView:
    """The schools of the account's trust it may see for *permission* at *at*, read from *uow*.

    *at* is the moment the grants must be live at (pass the clock's now); memberships, roles
    and accounts are read as stored now. For a past moment ask
    ``AccessIndex.check(..., at=...)``, which replays the audit log.

    Args:
        account: the account or its id.
        role_permissions: trust role name to permissions (see :func:`trust_permissions_of`).
        grant_free_permissions: permissions a trust role may use by membership alone; every
            other permission needs the school's grant.
        check: a host access check that must also allow each school (e.g. the role
            catalogue's ``check``); required when *role_permissions* is not given. A check
            bound to an ``AccessIndex`` brings its catalogue when *catalogue* is not given.
        policy: the host's switches; its ``views_need_academy_designation`` is the
            designation switch only without a catalogue (with one, they must agree).
        catalogue: a role catalogue to take *grant_free_permissions* (and, without *check*,
            *role_permissions*) from (see :func:`catalogue_rules`) when they are not given,
            and the designation switch (``requires_designated_trust``).
            With *check* the role question is left to the check, so no assignment is scanned.
        grants_required: every permission needs the school's live grant, even one the
            catalogue lets trust roles use by membership alone.

    Only access through the trust counts: a school the account can reach through a school
    role of its own is still left out unless the trust route allows it.

    Raises:
        ValueError: the policy's designation switch contradicts the catalogue's.
    """
    policy = policy or TrustPolicy()
    catalogue = catalogue or _catalogue_of(check)
    requires_designation = designation_required(
        catalogue, views_switch=policy.views_need_academy_designation
    )
    if catalogue is not None:
        from_catalogue, free = catalogue_rules(catalogue)
        if role_permissions is None and check is None:  # with a check, it judges the roles
            role_permissions = from_catalogue
        if not grant_free_permissions:
            grant_free_permissions = free
    acct = uow.accounts.require(account) if isinstance(account, str) else account
    trust = uow.trusts.require(acct.trust_id)
    trust_permissions = (
        None
        if role_permissions is None
        else trust_permissions_of(uow, acct.id, trust.id, role_permissions)
    )
    memberships = [m for m in uow.memberships.list() if m.trust_id == trust.id]
    grants = [g for g in uow.grants.list() if g.trust_id == trust.id]
    view = view_from_records(
        acct,
        permission,
        trust=trust,
        memberships=memberships,
        grants=grants,
        at=at,
        trust_permissions=trust_permissions,
        needs_grant=grants_required or permission not in grant_free_permissions,
        policy=policy,
        check=check,
        requires_designation=requires_designation,
    )
    named = {*view.school_ids, *(e.school_id for e in view.excluded)}
    names = {s.id: s.name for s in uow.schools.list() if s.id in named}
    return attrs.evolve(view, school_names=names)


def _catalogue_of(check: AccessCheck | None) -> RoleCatalogue | None:
    """The catalogue of a check bound to an access index (``index.check``), if any."""
    found = getattr(getattr(check, "__self__", None), "catalogue", None)
    return found if isinstance(found, RoleCatalogue) else None


@attrs.frozen(kw_only=True)
class TrustReport(Tabular, Generic[T]):
    """A trust-wide report: each visible school's data, and every school left out and why."""

    view: TrustView
    results: Mapping[str, T]
    excluded: tuple[Exclusion, ...]

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per included school: ``school_id`` then the provider's mapping (or ``value``)."""
        rows: list[dict[str, Any]] = []
        for school_id, value in self.results.items():
            if isinstance(value, Mapping):
                rows.append({"school_id": school_id, **value})
            else:
                rows.append({"school_id": school_id, "value": value})
        return rows

    def display_rows(self) -> list[dict[str, Any]]:
        """:meth:`to_rows` with each school's name (where the view knows it) in place of its
        id."""
        return [
            {"school": self.view.school_label(row.pop("school_id")), **row}
            for row in self.to_rows()
        ]

    def excluded_rows(self) -> list[dict[str, Any]]:
        """One row per school left out: ``school_id``, ``reason``, ``detail``."""
        return [
            {"school_id": e.school_id, "reason": e.reason.value, "detail": e.detail}
            for e in self.excluded
        ]


def gather(
    view: TrustView, providers: Mapping[str, Callable[[], T]] | Callable[[str], T]
) -> TrustReport[T]:
    """Call the data providers of the schools in *view*, and no others.

    *providers* is either a mapping of school id to a no-argument callable, or one callable
    taking the school id. A school in view without a provider is left out as ``NO_DATA``.
    """
    results: dict[str, T] = {}
    excluded = list(view.excluded)
    for school_id in view.school_ids:
        if isinstance(providers, Mapping):
            provider = providers.get(school_id)
            if provider is None:
                excluded.append(
                    Exclusion(
                        school_id=school_id,
                        reason=ExclusionReason.NO_DATA,
                        detail="no data provider for this school",
                    )
                )
                continue
            results[school_id] = provider()
        else:
            results[school_id] = providers(school_id)
    return TrustReport(view=view, results=results, excluded=tuple(excluded))


def trust_report(
    account: Account | str,
    permission: str,
    providers: Mapping[str, Callable[[], T]] | Callable[[str], T],
    *,
    uow: UnitOfWork,
    at: datetime,
    role_permissions: Mapping[str, Collection[str]] | None = None,
    grant_free_permissions: Collection[str] = (),
    check: AccessCheck | None = None,
    policy: TrustPolicy | None = None,
    catalogue: RoleCatalogue | None = None,
) -> TrustReport[T]:
    """:func:`schools_in_view` then :func:`gather`: a report over the schools the account may see."""
    view = schools_in_view(
        account,
        permission,
        uow=uow,
        at=at,
        role_permissions=role_permissions,
        grant_free_permissions=grant_free_permissions,
        check=check,
        policy=policy,
        catalogue=catalogue,
    )
    return gather(view, providers)


def comparison_report(
    account: Account | str,
    permission: str,
    providers: Mapping[str, Callable[[], T]] | Callable[[str], T],
    *,
    uow: UnitOfWork,
    at: datetime,
    role_permissions: Mapping[str, Collection[str]] | None = None,
    grant_free_permissions: Collection[str] = (),
    check: AccessCheck | None = None,
    policy: TrustPolicy | None = None,
    catalogue: RoleCatalogue | None = None,
    compare_permission: str | None = None,
    grants_required: bool = False,
) -> TrustReport[T]:
    """A comparison report across the schools the account may see for *permission*.

    The schools are those of :func:`schools_in_view`, by the same rule as the access checks: a
    permission the catalogue lets trust roles use by membership alone (Boost Insights' school
    reports) compares every accepted member school, one that needs a grant only the schools
    whose live grant covers it.

    Args:
        compare_permission: a trust-level permission the account must hold to compare at all
            (Boost Insights' ``"trust.reports.compare"``); without it every school is left out
            as ``NO_ROLE`` and no provider is called. Needs *role_permissions* or a catalogue
            (given, or brought by an index's *check*).
        grants_required: include only schools whose live grant covers *permission*, even
            where the catalogue needs none (a host asking each school's consent to compare).

    Raises:
        ValueError: *compare_permission* without a way to read the account's trust roles.
    """
    catalogue = catalogue or _catalogue_of(check)
    view = schools_in_view(
        account,
        permission,
        uow=uow,
        at=at,
        role_permissions=role_permissions,
        grant_free_permissions=grant_free_permissions,
        check=check,
        policy=policy,
        catalogue=catalogue,
        grants_required=grants_required,
    )
    if compare_permission is not None:
        if role_permissions is None:
            if catalogue is None:
                raise ValueError("compare_permission needs role_permissions or a catalogue")
            role_permissions = catalogue_rules(catalogue)[0]
        held = trust_permissions_of(uow, view.account_id, view.trust_id, role_permissions)
        if compare_permission not in held:
            refused = tuple(
                Exclusion(
                    school_id=school_id,
                    reason=ExclusionReason.NO_ROLE,
                    detail=f"no trust role of the account includes {compare_permission}",
                )
                for school_id in view.school_ids
            )
            view = attrs.evolve(view, school_ids=(), excluded=(*refused, *view.excluded))
    return gather(view, providers)
