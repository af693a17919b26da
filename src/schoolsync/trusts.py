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
class Trust:
    """A multi-academy trust or school group.

    ``designated_academy_trust`` records whether the organisation is designated as an academy
    trust (some products only offer trust-wide views to such organisations).
    """

    id: str
    name: str
    kind: TrustKind = TrustKind.MULTI_ACADEMY_TRUST
    designated_academy_trust: bool = False
    max_trust_admins: int = 2


@attrs.frozen(kw_only=True)
class School:
    """A school. ``urn`` is the current URN (optional); ``former_urns`` the history, oldest first."""

    id: str
    name: str
    postcode: Postcode | None = None
    country: Country = Country.ENGLAND
    urn: Urn | None = None
    former_urns: tuple[Urn, ...] = ()
    laestab: Laestab | None = None
    email_pattern: str | None = None

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
