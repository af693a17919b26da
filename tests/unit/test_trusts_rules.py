"""Pure trust rules: school validation, URN changes, membership transitions, upload validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from schoolsync.errors import FileFormatError, ProblemsError, ValidationError
from schoolsync.identifiers import Postcode, Urn
from schoolsync.trusts import (
    Country,
    Membership,
    MembershipStateError,
    MembershipStatus,
    School,
    SchoolUploadRow,
    TrustPolicy,
    accept_invitation,
    country_from_postcode,
    decline_invitation,
    end_membership,
    expire_invitation,
    hash_token,
    plan_school_upload,
    record_urn_change,
    send_invitation,
    token_matches,
    validate_school,
)

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def ids():
    numbers = count(1)
    return lambda: f"school-{next(numbers)}"


def plan(rows, *, schools=(), memberships=(), policy=None):
    return plan_school_upload(
        [
            SchoolUploadRow(row=n, name=a, postcode=b, urn=c)
            for n, (a, b, c) in enumerate(rows, start=2)
        ],
        file="upload.csv",
        trust_id="t1",
        schools=schools,
        memberships=memberships,
        policy=policy,
        new_id=ids(),
    )


class TestSchoolRules:
    def test_blank_urn_refused_only_for_english_state_schools_under_the_rule(self) -> None:
        """Overseas and independent schools may lack a URN; English state schools may not, if required."""
        strict = TrustPolicy(require_urn_for_english_state_schools=True)

        with pytest.raises(ValidationError) as info:
            validate_school(School(id="s", name="Oak"), strict)
        assert "urn" == info.value.field
        validate_school(School(id="s", name="Oak"))
        validate_school(School(id="s", name="Rome", country=Country.OVERSEAS), strict)
        validate_school(School(id="s", name="Eton", state_funded=False), strict)

    def test_urn_change_keeps_history_and_id(self) -> None:
        """A conversion moves the old URN into former_urns; going back does not duplicate it."""
        school = School(id="s", name="Oak", urn=Urn("100001"))

        converted = record_urn_change(school, Urn("140001"))
        reverted = record_urn_change(converted, Urn("100001"))

        assert ("s", Urn("140001"), (Urn("100001"),)) == (
            converted.id,
            converted.urn,
            converted.former_urns,
        )
        assert (Urn("140001"),) == reverted.former_urns
        assert converted.holds_urn(Urn("100001"))
        assert converted == record_urn_change(converted, Urn("140001"))

    @pytest.mark.parametrize(
        ("postcode", "country"),
        [
            ("BT1 1AA", Country.NORTHERN_IRELAND),
            ("EH1 1YZ", Country.SCOTLAND),
            ("G1 1XQ", Country.SCOTLAND),
            ("CF10 1AA", Country.WALES),
            ("GU1 1AA", Country.ENGLAND),
            ("SW1A 1AA", Country.ENGLAND),
        ],
    )
    def test_country_from_postcode_area(self, postcode: str, country: Country) -> None:
        """The postcode area decides the UK country (G is Glasgow, GU is Guildford)."""
        assert country == country_from_postcode(Postcode.parse(postcode))

    def test_tokens_are_compared_by_hash(self) -> None:
        """Only the right token matches its stored hash; an empty hash matches nothing."""
        stored = hash_token("secret")

        assert token_matches("secret", stored)
        assert not token_matches("Secret", stored)
        assert not token_matches("", "")

    def test_acceptor_role_names_ignore_case_and_separators(self) -> None:
        """Preset display names ("Access Co-ordinator") match the policy's role keys."""
        policy = TrustPolicy()

        assert policy.is_acceptor_role("Access Co-ordinator")
        assert policy.is_acceptor_role("access_coordinator")
        assert policy.is_acceptor_role("School Administrator")
        assert not policy.is_acceptor_role("Teacher")


class TestMembershipTransitions:
    def test_happy_path(self) -> None:
        """Not sent -> sent -> accepted, recording who accepted and when."""
        m = Membership(id="m", trust_id="t", school_id="s")

        sent = send_invitation(m, at=T0, valid_for=14 * DAY)
        accepted = accept_invitation(sent, actor_id="ac", at=T0 + DAY)

        assert (MembershipStatus.ACCEPTED, "ac", T0 + DAY) == (
            accepted.status,
            accepted.accepted_by,
            accepted.responded_at,
        )

    def test_resend_renews_the_expiry(self) -> None:
        """Re-sending an invitation starts a fresh validity period."""
        sent = send_invitation(
            Membership(id="m", trust_id="t", school_id="s"), at=T0, valid_for=DAY
        )

        resent = send_invitation(sent, at=T0 + 5 * DAY, valid_for=DAY)

        assert T0 + 6 * DAY == resent.invitation_expires_at

    def test_cannot_accept_without_an_open_invitation(self) -> None:
        """Unsent, expired and already-answered invitations cannot be accepted."""
        m = Membership(id="m", trust_id="t", school_id="s")
        sent = send_invitation(m, at=T0, valid_for=DAY)

        with pytest.raises(MembershipStateError):
            accept_invitation(m, actor_id="ac", at=T0)
        with pytest.raises(MembershipStateError):
            accept_invitation(sent, actor_id="ac", at=T0 + DAY)
        with pytest.raises(MembershipStateError):
            accept_invitation(decline_invitation(sent, at=T0), actor_id="ac", at=T0)

    def test_expire_only_after_the_expiry(self) -> None:
        """An invitation expires at its expiry time, not before."""
        sent = send_invitation(
            Membership(id="m", trust_id="t", school_id="s"), at=T0, valid_for=DAY
        )

        with pytest.raises(MembershipStateError):
            expire_invitation(sent, at=T0)
        assert MembershipStatus.EXPIRED == expire_invitation(sent, at=T0 + DAY).status

    def test_leave_needs_membership_but_removal_does_not(self) -> None:
        """A school leaves only once it joined; the trust can withdraw a pending invitation."""
        sent = send_invitation(
            Membership(id="m", trust_id="t", school_id="s"), at=T0, valid_for=DAY
        )

        with pytest.raises(MembershipStateError):
            end_membership(sent, at=T0, status=MembershipStatus.LEFT)
        removed = end_membership(sent, at=T0, status=MembershipStatus.REMOVED)
        assert MembershipStatus.REMOVED == removed.status
        with pytest.raises(MembershipStateError):
            end_membership(removed, at=T0, status=MembershipStatus.REMOVED)

    def test_accepted_member_cannot_be_invited_again(self) -> None:
        """Sending an invitation to a member school is refused."""
        sent = send_invitation(
            Membership(id="m", trust_id="t", school_id="s"), at=T0, valid_for=DAY
        )
        accepted = accept_invitation(sent, actor_id="ac", at=T0)

        with pytest.raises(MembershipStateError):
            send_invitation(accepted, at=T0, valid_for=DAY)


class TestUploadValidation:
    def test_every_bad_row_is_reported_with_row_column_value_and_reason(self) -> None:
        """All problems at once, each naming row, column and value."""
        result = plan(
            [
                ("Oakfield Primary", "SW1A 1AA", "100001"),
                ("", "SW1A 1AA", "100002"),
                ("Elm", "XX", "100003"),
                ("Ash", "M1 1AE", "12345"),
                ("Beech", "M1 1AE", "100001"),
            ]
        )

        got = [(p.row, p.field, p.value, p.code) for p in result.problems]
        assert [
            (3, "name", None, "name_missing"),
            (4, "postcode", "XX", "postcode_invalid"),
            (5, "urn", "12345", "urn_invalid"),
            (6, "urn", "100001", "urn_duplicate"),
        ] == got
        assert ["Oakfield Primary"] == [p.school.name for p in result.valid]

    def test_raise_for_problems_is_one_exception_group(self) -> None:
        """The problems come together as a ProblemsError of FileFormatErrors."""
        result = plan([("", "SW1A 1AA", "100002"), ("Elm", "XX", "100003")])

        with pytest.raises(ProblemsError) as info:
            result.raise_for_problems()
        assert all(isinstance(e, FileFormatError) for e in info.value.exceptions)
        assert "upload.csv, row 3, field 'postcode'" in info.value.problems()[1]

    def test_blank_urn_is_for_schools_outside_the_uk(self) -> None:
        """A non-UK postal code with no URN is an overseas school; a UK one needs its URN."""
        result = plan([("British School of Rome", "00186", ""), ("Oak", "SW1A 1AA", "")])

        [overseas] = result.valid
        assert (Country.OVERSEAS, None, "00186") == (
            overseas.school.country,
            overseas.school.postcode,
            overseas.school.postal_code,
        )
        assert [(3, "urn", "urn_required")] == [(p.row, p.field, p.code) for p in result.problems]
        relaxed = plan(
            [("Oak", "SW1A 1AA", "")], policy=TrustPolicy(require_urn_for_uk_upload_rows=False)
        )
        assert relaxed.ok

    def test_school_already_in_another_trust_is_refused(self) -> None:
        """A URN naming an accepted member of another trust is a problem on that row."""
        school = School(id="s9", name="Oak", urn=Urn("140001"), former_urns=(Urn("100001"),))
        other = Membership(id="m", trust_id="t2", school_id="s9", status=MembershipStatus.ACCEPTED)

        result = plan([("Oak", "SW1A 1AA", "100001")], schools=[school], memberships=[other])

        assert ["school_in_other_trust"] == [p.code for p in result.problems]

    def test_known_urn_reuses_the_existing_school(self) -> None:
        """A URN the store knows (even a former one) names that school instead of a new one."""
        school = School(id="s9", name="Oak", urn=Urn("140001"), former_urns=(Urn("100001"),))

        [planned] = plan([("Oak Academy", "SW1A 1AA", "100001")], schools=[school]).valid

        assert (False, "s9") == (planned.is_new, planned.school.id)

    def test_excel_number_urn_is_read_as_text(self) -> None:
        """A URN typed as a number (100001.0) is accepted."""
        [planned] = plan([("Oak", "SW1A 1AA", "100001.0")]).valid

        assert Urn("100001") == planned.school.urn
