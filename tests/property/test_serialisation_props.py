"""The shared cattrs converter round-trips every record of people.py and trusts.py through JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schoolsync.errors import InvalidIdentifierError
from schoolsync.identifiers import ULN_FORMAT_CODE, Uln, Upn
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.serialisation import converter, format_duration, parse_duration
from schoolsync.testing.strategies import pupils, schools, staff_members, ulns
from schoolsync.trusts import (
    Membership,
    MembershipStatus,
    School,
    Trust,
    TrustAdminNomination,
    TrustKind,
    TrustPolicy,
)

_ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_text = st.none() | st.text(max_size=20)
_moments = st.datetimes(timezones=st.none() | st.just(UTC))
_maybe_moment = st.none() | _moments

_nominations = st.builds(
    TrustAdminNomination,
    account_id=_ids,
    nominated_at=_moments,
    expires_at=_moments,
    token_hash=st.text(max_size=64),
    nominated_by=_text,
    accepted_at=_maybe_moment,
)
_trusts = st.builds(
    Trust,
    id=_ids,
    name=st.text(max_size=30),
    kind=st.sampled_from(TrustKind),
    designated_academy_trust=st.booleans(),
    max_trust_admins=st.integers(0, 10),
    organisation_type=_text,
    admin_nominations=st.lists(_nominations, max_size=3).map(tuple),
)
_memberships = st.builds(
    Membership,
    id=_ids,
    trust_id=_ids,
    school_id=_ids,
    status=st.sampled_from(MembershipStatus),
    invited_at=_maybe_moment,
    invitation_expires_at=_maybe_moment,
    responded_at=_maybe_moment,
    ended_at=_maybe_moment,
    accepted_by=_text,
)
_policies = st.builds(
    TrustPolicy,
    views_need_academy_designation=st.booleans(),
    require_urn_for_english_state_schools=st.booleans(),
    invitation_valid_for=st.timedeltas(),
    admin_token_valid_for=st.timedeltas(),
    acceptor_roles=st.frozensets(st.text(max_size=20), max_size=4),
)
_year_groups = st.builds(
    YearGroup,
    id=_ids,
    school_id=_ids,
    name=st.text(max_size=20),
    nc_year=st.sampled_from(["N1", "N2", "R", "1", "7", "13", "P3", "S1", "Y8", "X"]),
    mis_id=_text,
    intake_year=st.none() | st.integers(1990, 2040),
)
_classes = st.builds(
    SchoolClass,
    id=_ids,
    school_id=_ids,
    name=st.text(max_size=20),
    year_group_ids=st.lists(_ids, max_size=3).map(tuple),
    description=_text,
    mis_id=_text,
    subject=_text,
)
_staff = staff_members().flatmap(
    lambda s: st.builds(
        lambda dob, middle, gender: attrs.evolve(
            s, date_of_birth=dob, middle_names=middle, gender=gender
        ),
        st.none() | st.dates(),
        _text,
        st.sampled_from(Gender),
    )
)
_pupils = pupils().flatmap(
    lambda p: st.builds(
        lambda uln, intake, email: attrs.evolve(p, uln=uln, intake_year=intake, email=email),
        st.none() | ulns(),
        st.none() | st.integers(1990, 2040),
        _text,
    )
)

_RECORDS: list[tuple[type[Any], st.SearchStrategy[Any]]] = [
    (Pupil, _pupils),
    (StaffMember, _staff),
    (YearGroup, _year_groups),
    (SchoolClass, _classes),
    (School, schools()),
    (Trust, _trusts),
    (Membership, _memberships),
    (TrustPolicy, _policies),
]


def _round_trip(record_type: type[Any], record: Any) -> Any:
    stored = json.dumps(converter.unstructure(record, record_type), ensure_ascii=False)
    return converter.structure(json.loads(stored), record_type)


@pytest.mark.parametrize(
    ("record_type", "records"), _RECORDS, ids=[t.__name__ for t, _ in _RECORDS]
)
@given(data=st.data())
def test_records_survive_json_through_the_converter(
    record_type: type[Any], records: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    """structure(json(unstructure(x))) == x for every people/trusts record, as storage does it."""
    record = data.draw(records, label=record_type.__name__)
    assert record == _round_trip(record_type, record)


@given(st.timedeltas())
def test_durations_are_exact(value: timedelta) -> None:
    """A timedelta becomes an ISO 8601 day/second duration and back without rounding."""
    assert value == parse_duration(format_duration(value))


def test_duration_form() -> None:
    """Durations read as P<days>DT<seconds>S; plain numbers are seconds; junk is refused."""
    assert "P14DT0S" == format_duration(timedelta(days=14))
    assert "P0DT90.000001S" == format_duration(timedelta(seconds=90, microseconds=1))
    assert timedelta(minutes=1) == parse_duration(60)
    with pytest.raises(ValueError, match="duration"):
        parse_duration("14 days")
    assert datetime(2026, 1, 1, tzinfo=UTC) == converter.structure(
        "2026-01-01T00:00:00+00:00", datetime
    )


def test_identifiers_are_stored_as_their_strings() -> None:
    """A stored pupil holds its UPN and ULN as plain strings, and bad stored text is refused."""
    pupil = Pupil(
        id="p1",
        school_id="s1",
        forename="Siân",
        surname="O'Brien",
        upn=Upn("B801200005001"),
        uln=Uln("9276308686"),
    )
    data = converter.unstructure(pupil)
    assert ("B801200005001", "9276308686") == (data["upn"], data["uln"])
    assert data["former_upns"] == []
    with pytest.raises(cattrs.ClassValidationError) as info:
        converter.structure({**data, "uln": "9276308687"}, Pupil)
    (error,) = info.value.exceptions
    assert isinstance(error, InvalidIdentifierError)
    assert ("uln", ULN_FORMAT_CODE) == (error.field, error.code)
