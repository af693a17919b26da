"""Trusts, schools and school membership of a trust: the pure rules.

The records (:class:`Trust`, :class:`School`, :class:`Membership`...) live in
:mod:`schoolsync.records.organisations` and are re-exported here. A :class:`School` has a stable
``id`` of its own; its URN is an attribute with a history, because an academy conversion issues a
new URN while the school (and its grants) carry on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

import attrs

from schoolsync.errors import (
    FileFormatError,
    InvalidIdentifierError,
    MembershipStateError,
    ProblemsError,
    TrustAdminTokenError,
    ValidationError,
)
from schoolsync.identifiers import Postcode, Urn
from schoolsync.records.organisations import (
    Country,
    Membership,
    MembershipStatus,
    School,
    Trust,
    TrustAdminNomination,
    TrustKind,
)

__all__ = [
    "ENDED_STATUSES",
    "PENDING_STATUSES",
    "Country",
    "Membership",
    "MembershipStateError",
    "MembershipStatus",
    "PlannedSchool",
    "School",
    "SchoolUploadPlan",
    "SchoolUploadRow",
    "Trust",
    "TrustAdminNomination",
    "TrustAdminTokenError",
    "TrustKind",
    "TrustPolicy",
    "accept_invitation",
    "country_from_postcode",
    "decline_invitation",
    "end_membership",
    "expire_invitation",
    "hash_token",
    "invitation_has_expired",
    "offers_trust_wide_views",
    "plan_school_upload",
    "record_urn_change",
    "send_invitation",
    "token_matches",
    "trust_is_designated",
    "validate_school",
]


# ---------------------------------------------------------------------------------------------
# Trust set-up rules, school validation and the membership lifecycle (pure; no I/O, no clock).
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TrustPolicy:
    """Rules a host switches on or off for trusts (defaults follow the seed products).

    Attributes:
        views_need_academy_designation: trust-wide views only for organisations designated as
            academy trusts (:attr:`Trust.designated_academy_trust`), as Schoot does, for a host
            calling the views without a role catalogue. With a catalogue the switch is the
            catalogue's ``requires_designated_trust`` (checks and views share it), and this
            one must not contradict it.
        require_urn_for_english_state_schools: an English state school must have a URN.
        require_urn_for_uk_upload_rows: a School Upload row with a UK postcode needs a URN (the
            upload sheet's rule: leave the URN blank only outside the UK / overseas).
        invitation_valid_for: how long a membership invitation can be accepted.
        admin_token_valid_for: how long a trust-admin acceptance link works.
        acceptor_roles: the school roles that may accept a membership invitation and give
            grants (the school's Access Coordinator or Administrator). Names are compared
            ignoring case, spaces, hyphens and underscores, so ``"Access Co-ordinator"``
            matches ``access_coordinator``.
        admins_must_be_registered_with_a_school: a trust-admin nominee must already hold a
            role at some school (the Boost Insights prerequisite).
        whole_trust_grants: schools may grant to the trust as a whole, which also covers trust
            accounts added later (the Schoot model). ``False`` allows only grants naming trust
            accounts, so a trust admin added later holds nothing at a school until that school
            grants it too (the Boost Insights model).
    """

    views_need_academy_designation: bool = False
    require_urn_for_english_state_schools: bool = False
    require_urn_for_uk_upload_rows: bool = True
    invitation_valid_for: timedelta = timedelta(days=14)
    admin_token_valid_for: timedelta = timedelta(days=7)
    acceptor_roles: frozenset[str] = attrs.field(
        default=frozenset({"access_coordinator", "administrator", "school_administrator"}),
        converter=frozenset,
    )

    def is_acceptor_role(self, role: str) -> bool:
        """True if *role* is one of :attr:`acceptor_roles` (ignoring case and separators)."""
        return _role_key(role) in {_role_key(r) for r in self.acceptor_roles}

    admins_must_be_registered_with_a_school: bool = False
    whole_trust_grants: bool = True


def _role_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def trust_is_designated(trust: Trust | None, required: bool) -> bool:
    """THE designation rule: True unless *required* and *trust* is not designated as an
    academy trust (:attr:`Trust.designated_academy_trust`; an unknown trust is not).

    Checks (``schoolsync.access.rules``) and trust-wide views (``schoolsync.views``) both judge
    designation with it; whether it is *required* is one switch,
    ``schoolsync.access.rules.designation_required``.
    """
    return not required or (trust is not None and trust.designated_academy_trust)


def offers_trust_wide_views(trust: Trust, policy: TrustPolicy) -> bool:
    """True if *policy* lets *trust* have trust-wide views at all (the academy-designation
    switch of a host without a role catalogue; with one, the catalogue's
    ``requires_designated_trust`` is the switch)."""
    return trust_is_designated(trust, policy.views_need_academy_designation)


def hash_token(token: str) -> str:
    """The stored form of a single-use token: its SHA-256 hex digest.

    Tokens are 256-bit random values (``secrets``), so a fast unsalted hash is enough to make a
    leaked table useless; compare digests with :func:`token_matches`.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, token_hash: str) -> bool:
    """Compare *token* with a stored hash in constant time (an empty hash matches nothing)."""
    return bool(token_hash) and hmac.compare_digest(hash_token(token), token_hash)


def validate_school(school: School, policy: TrustPolicy | None = None) -> None:
    """Check a school against the URN rule.

    A blank URN is valid for schools outside the UK and British schools overseas (and for any
    school unless the host requires URNs); it is refused for an English state school when
    :attr:`TrustPolicy.require_urn_for_english_state_schools` is on.

    Raises:
        ValidationError: naming the field ``urn``.
    """
    policy = policy or TrustPolicy()
    if (
        school.urn is None
        and policy.require_urn_for_english_state_schools
        and school.country is Country.ENGLAND
        and school.state_funded
    ):
        raise ValidationError(
            "urn", None, "a URN is required for an English state school", code="urn_required"
        )
    if not school.name.strip():
        raise ValidationError("name", school.name, "a school needs a name")


def record_urn_change(school: School, new_urn: Urn) -> School:
    """The school after a URN change (e.g. an academy conversion): the old URN joins ``former_urns``.

    The school keeps its own ``id``, so memberships and grants (which hang on the id) carry on.
    Recording the URN it already has changes nothing; a former URN becomes current again (a
    reversal) without being listed twice.
    """
    if school.urn == new_urn:
        return school
    former = tuple(u for u in school.all_urns() if u != new_urn)
    return attrs.evolve(school, urn=new_urn, former_urns=former)


# Postcode areas wholly or mostly in Scotland and Wales (Northern Ireland is BT).
_SCOTTISH_AREAS = frozenset(
    {"AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH", "TD", "ZE"}
)
_WELSH_AREAS = frozenset({"CF", "LD", "LL", "NP", "SA"})


def country_from_postcode(postcode: Postcode) -> Country:
    """The UK country a postcode's area lies in (a few border areas are counted as England/Scotland).

    ``BT`` is Northern Ireland; the Scottish and Welsh areas are listed; everything else
    (including ``BFPO``) is England.
    """
    area = ""
    for ch in postcode.outward:
        if not ch.isalpha():
            break
        area += ch
    if area == "BT":
        return Country.NORTHERN_IRELAND
    if area in _SCOTTISH_AREAS:
        return Country.SCOTLAND
    if area in _WELSH_AREAS:
        return Country.WALES
    return Country.ENGLAND


#: Statuses in which an invitation is outstanding (the school has not decided yet).
PENDING_STATUSES = frozenset(
    {MembershipStatus.INVITATION_NOT_SENT, MembershipStatus.INVITATION_SENT}
)
#: Statuses after which the school is no longer (or never became) a member.
ENDED_STATUSES = frozenset(
    {
        MembershipStatus.DECLINED,
        MembershipStatus.EXPIRED,
        MembershipStatus.LEFT,
        MembershipStatus.REMOVED,
    }
)


def send_invitation(membership: Membership, *, at: datetime, valid_for: timedelta) -> Membership:
    """The membership with an invitation sent at *at* (also a re-send, or a re-invitation after
    a decline, expiry, leaving or removal).

    Raises:
        MembershipStateError: if the school is already an accepted member.
    """
    if membership.status is MembershipStatus.ACCEPTED:
        raise MembershipStateError(membership.id, membership.status, "send an invitation for")
    return attrs.evolve(
        membership,
        status=MembershipStatus.INVITATION_SENT,
        invited_at=at,
        invitation_expires_at=at + valid_for,
        responded_at=None,
        ended_at=None,
        accepted_by=None,
    )


def invitation_has_expired(membership: Membership, at: datetime) -> bool:
    """True if the membership's sent invitation can no longer be accepted at *at*."""
    return (
        membership.status is MembershipStatus.INVITATION_SENT
        and membership.invitation_expires_at is not None
        and membership.invitation_expires_at <= at
    )


def accept_invitation(membership: Membership, *, actor_id: str, at: datetime) -> Membership:
    """The membership accepted by the account *actor_id* at *at*.

    Raises:
        MembershipStateError: unless an invitation was sent and has not expired.
    """
    if membership.status is not MembershipStatus.INVITATION_SENT:
        raise MembershipStateError(membership.id, membership.status, "accept")
    if invitation_has_expired(membership, at):
        raise MembershipStateError(membership.id, MembershipStatus.EXPIRED, "accept")
    return attrs.evolve(
        membership, status=MembershipStatus.ACCEPTED, responded_at=at, accepted_by=actor_id
    )


def decline_invitation(membership: Membership, *, at: datetime) -> Membership:
    """The membership declined at *at*.

    Raises:
        MembershipStateError: unless an invitation was sent and has not expired.
    """
    if membership.status is not MembershipStatus.INVITATION_SENT or invitation_has_expired(
        membership, at
    ):
        raise MembershipStateError(membership.id, membership.status, "decline")
    return attrs.evolve(membership, status=MembershipStatus.DECLINED, responded_at=at)


def expire_invitation(membership: Membership, *, at: datetime) -> Membership:
    """The membership marked expired (its invitation passed its expiry unanswered).

    Raises:
        MembershipStateError: unless the invitation has expired by *at*.
    """
    if not invitation_has_expired(membership, at):
        raise MembershipStateError(membership.id, membership.status, "expire")
    return attrs.evolve(membership, status=MembershipStatus.EXPIRED, ended_at=at)


def end_membership(membership: Membership, *, at: datetime, status: MembershipStatus) -> Membership:
    """The membership ended at *at* because the school left (``LEFT``) or was removed (``REMOVED``).

    A trust may remove a school at any stage (also withdrawing a pending invitation); a school
    can only leave once it is a member.

    Raises:
        MembershipStateError: for a school leaving a trust it has not joined, or a membership
            that has already ended.
    """
    if status not in (MembershipStatus.LEFT, MembershipStatus.REMOVED):
        raise ValueError("status must be LEFT or REMOVED")
    if status is MembershipStatus.LEFT and membership.status is not MembershipStatus.ACCEPTED:
        raise MembershipStateError(membership.id, membership.status, "leave")
    if membership.status in ENDED_STATUSES:
        raise MembershipStateError(membership.id, membership.status, "remove")
    return attrs.evolve(membership, status=status, ended_at=at)


# ---------------------------------------------------------------------------------------------
# The School Upload sheet (pure validation; the file reader is schoolsync.sources.school_upload).
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SchoolUploadRow:
    """One row of a School Upload sheet, as text. ``row`` is the 1-based sheet row (header = 1)."""

    row: int
    name: str
    postcode: str
    urn: str


@attrs.frozen(kw_only=True)
class PlannedSchool:
    """A valid upload row: the school to create (or the existing school it names) and whether it
    is already a member (or invited) of this trust."""

    row: int
    school: School
    is_new: bool
    already_in_trust: bool


@attrs.frozen(kw_only=True)
class SchoolUploadPlan:
    """What an upload would do: the valid rows, and one :class:`FileFormatError` per bad row."""

    file: str
    valid: tuple[PlannedSchool, ...]
    problems: tuple[FileFormatError, ...]

    @property
    def ok(self) -> bool:
        """True if every row is valid."""
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise every problem at once.

        Raises:
            ProblemsError: one :class:`FileFormatError` per bad row (row, column, value, reason).
        """
        if self.problems:
            raise ProblemsError(f"School Upload {self.file} has bad rows", self.problems)


#: A school name starting with one of these would run as a formula in a spreadsheet.
FORMULA_PREFIXES = frozenset("=+-@")


def plan_school_upload(
    rows: Sequence[SchoolUploadRow],
    *,
    file: str,
    trust_id: str,
    schools: Iterable[School],
    memberships: Iterable[Membership],
    policy: TrustPolicy | None = None,
    new_id: Callable[[], str],
) -> SchoolUploadPlan:
    """Validate every row of a School Upload sheet and plan the schools it adds.

    Each problem is a :class:`FileFormatError` naming the row, the column (``name``,
    ``postcode``, ``urn``), the value and the reason: a missing name, a bad postcode, a bad or
    duplicate URN, a school already in another trust. A URN the store already knows (as a
    current or former URN) names that school rather than creating a second one. A blank URN is
    accepted for schools outside the UK (a non-UK postcode) and British schools overseas.
    """
    policy = policy or TrustPolicy()
    by_urn: dict[str, School] = {}
    for school in schools:
        for urn in school.all_urns():
            by_urn.setdefault(urn.value, school)
    trust_of: dict[str, set[str]] = {}
    in_this_trust: set[str] = set()
    for m in memberships:
        if m.status is MembershipStatus.ACCEPTED:
            trust_of.setdefault(m.school_id, set()).add(m.trust_id)
        if m.trust_id == trust_id and m.status not in ENDED_STATUSES:
            in_this_trust.add(m.school_id)

    problems: list[FileFormatError] = []
    valid: list[PlannedSchool] = []
    seen_urns: dict[str, int] = {}
    for r in rows:
        row_problems: list[FileFormatError] = []

        def problem(
            field: str,
            value: object,
            reason: str,
            code: str,
            row: int = r.row,
            sink: list[FileFormatError] = row_problems,
        ) -> None:
            sink.append(FileFormatError(file, reason, row=row, field=field, value=value, code=code))

        name = " ".join(r.name.split())
        if not name:
            problem("name", r.name or None, "school name is missing", "name_missing")
        elif name[0] in FORMULA_PREFIXES:
            problem(
                "name",
                r.name,
                "a school name may not start with =, +, - or @ (a spreadsheet would run it as a "
                "formula)",
                "name_formula",
            )

        parsed_urn: Urn | None = None
        urn_text = r.urn.strip()
        if urn_text.endswith(".0") and urn_text[:-2].isdigit():  # a number typed into Excel
            urn_text = urn_text[:-2]
        if urn_text:
            try:
                parsed_urn = Urn.parse(urn_text)
            except InvalidIdentifierError:
                problem("urn", r.urn, "URN must be six digits", "urn_invalid")
            else:
                first = seen_urns.get(parsed_urn.value)
                if first is not None:
                    problem("urn", r.urn, f"duplicate URN (also on row {first})", "urn_duplicate")
                else:
                    seen_urns[parsed_urn.value] = r.row

        postcode: Postcode | None = None
        postal_code: str | None = None
        postcode_text = " ".join(r.postcode.split())
        if postcode_text:
            try:
                postcode = Postcode.parse(postcode_text)
            except InvalidIdentifierError:
                if urn_text:
                    problem("postcode", r.postcode, "not a valid UK postcode", "postcode_invalid")
                else:  # a school outside the UK keeps its own postal code as given
                    postal_code = postcode_text
        elif urn_text:
            problem("postcode", None, "postcode is missing", "postcode_missing")
        if (
            postcode is not None
            and not urn_text
            and policy.require_urn_for_uk_upload_rows
            and not postcode.value.startswith("BFPO")
        ):
            problem(
                "urn",
                None,
                "URN is missing; leave it blank only for schools outside the UK "
                "and British schools overseas",
                "urn_required",
            )

        existing = by_urn.get(parsed_urn.value) if parsed_urn is not None else None
        if existing is not None:
            others = trust_of.get(existing.id, set()) - {trust_id}
            if others:
                problem(
                    "urn",
                    r.urn,
                    "this school is already in another trust",
                    "school_in_other_trust",
                )

        if row_problems:
            problems.extend(row_problems)
            continue
        if existing is not None:
            valid.append(
                PlannedSchool(
                    row=r.row,
                    school=existing,
                    is_new=False,
                    already_in_trust=existing.id in in_this_trust,
                )
            )
            continue
        country = country_from_postcode(postcode) if postcode is not None else Country.OVERSEAS
        school = School(
            id=new_id(),
            name=name,
            postcode=postcode,
            postal_code=postal_code,
            country=country,
            urn=parsed_urn,
        )
        valid.append(PlannedSchool(row=r.row, school=school, is_new=True, already_in_trust=False))
    return SchoolUploadPlan(file=file, valid=tuple(valid), problems=tuple(problems))
