"""Trusts, schools and school membership of a trust (records).

A :class:`School` has a stable ``id`` of its own; its URN is an attribute with a history,
because an academy conversion issues a new URN while the school (and its grants) carry on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from schoolsync.identifiers import Laestab, Postcode, Urn

__all__ = [
    "Country",
    "Membership",
    "MembershipStatus",
    "School",
    "Trust",
    "TrustAdminNomination",
    "TrustKind",
]


class TrustKind(StrEnum):
    """What kind of organisation a trust is."""

    MULTI_ACADEMY_TRUST = "multi_academy_trust"
    SCHOOL_GROUP = "school_group"
    LOCAL_AUTHORITY = "local_authority"
    OTHER = "other"


class Country(StrEnum):
    """Where a school is; decides which identifiers and calendar apply."""

    ENGLAND = "england"
    WALES = "wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern_ireland"
    OVERSEAS = "overseas"


@attrs.frozen(kw_only=True)
class TrustAdminNomination:
    """An account nominated as a trust admin, who accepts through a single-use, expiring token.

    Only the token's hash is kept (:func:`hash_token`); ``accepted_at`` is set once it is used.
    Audit events leave the hash out (a replayed nomination has ``token_hash == ""``, which no
    token matches).
    """

    account_id: str
    nominated_at: datetime
    expires_at: datetime
    token_hash: str = ""
    nominated_by: str | None = None
    accepted_at: datetime | None = None

    def is_pending(self, at: datetime) -> bool:
        """True if the nomination is unanswered and its token still works at *at*."""
        return self.accepted_at is None and at < self.expires_at


@attrs.frozen(kw_only=True)
class Trust:
    """A multi-academy trust or school group.

    ``designated_academy_trust`` records whether the organisation is designated as an academy
    trust (some products only offer trust-wide views to such organisations);
    ``organisation_type`` is the designation as the host shows it (e.g. ``"Academies"``).
    ``admin_nominations`` holds the trust-admin nominations (accepted ones are the trust admins).
    """

    id: str
    name: str
    kind: TrustKind = TrustKind.MULTI_ACADEMY_TRUST
    designated_academy_trust: bool = False
    max_trust_admins: int = 2
    organisation_type: str | None = None
    admin_nominations: tuple[TrustAdminNomination, ...] = ()

    def admin_account_ids(self) -> tuple[str, ...]:
        """The accounts that have accepted the trust-admin role, in acceptance order."""
        accepted = [n for n in self.admin_nominations if n.accepted_at is not None]
        return tuple(n.account_id for n in accepted)

    def admin_place_holders(self, at: datetime) -> tuple[str, ...]:
        """The accounts holding an admin place at *at*: accepted admins and open nominations."""
        return tuple(
            n.account_id
            for n in self.admin_nominations
            if n.accepted_at is not None or n.is_pending(at)
        )

    def admin_places_taken(self, at: datetime) -> int:
        """Accepted admins plus nominations still open at *at* (both count towards the cap)."""
        return len(self.admin_place_holders(at))


@attrs.frozen(kw_only=True)
class School:
    """A school. ``urn`` is the current URN (optional); ``former_urns`` the history, oldest first.

    ``state_funded`` decides whether a host's "English state schools need a URN" rule applies;
    ``postal_code`` keeps a postal code outside the UK as given (``postcode`` is UK only).
    """

    id: str
    name: str
    postcode: Postcode | None = None
    country: Country = Country.ENGLAND
    urn: Urn | None = None
    former_urns: tuple[Urn, ...] = ()
    laestab: Laestab | None = None
    email_pattern: str | None = None
    state_funded: bool = True
    postal_code: str | None = None

    def holds_urn(self, urn: Urn) -> bool:
        """True if *urn* is the school's current URN or one of its former URNs."""
        return urn == self.urn or urn in self.former_urns

    def all_urns(self) -> tuple[Urn, ...]:
        """Every URN the school has held, current last."""
        return self.former_urns + ((self.urn,) if self.urn is not None else ())


class MembershipStatus(StrEnum):
    """The state of a school's membership of a trust."""

    INVITATION_NOT_SENT = "invitation_not_sent"
    INVITATION_SENT = "invitation_sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    LEFT = "left"
    REMOVED = "removed"


@attrs.frozen(kw_only=True)
class Membership:
    """A school's membership of a trust, with its invitation lifecycle."""

    id: str
    trust_id: str
    school_id: str
    status: MembershipStatus = MembershipStatus.INVITATION_NOT_SENT
    invited_at: datetime | None = None
    invitation_expires_at: datetime | None = None
    responded_at: datetime | None = None
    ended_at: datetime | None = None
    accepted_by: str | None = None

    @property
    def is_member(self) -> bool:
        """True while the school is an accepted member of the trust."""
        return self.status is MembershipStatus.ACCEPTED
