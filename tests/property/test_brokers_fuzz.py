"""Fuzzing every JSON payload shape a broker could send: whatever the body, a fetch ends in a
complete snapshot or a SchoolsyncError, never another exception."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schoolsync.brokers import BrokerSchool, HttpSettings, RateLimit, RetryPolicy
from schoolsync.clock import FixedClock
from schoolsync.errors import SchoolsyncError
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import (
    FakeAssembly,
    FakeBroker,
    FakeOneRoster,
    FakeWonde,
    FakeXporter,
)

CLOCK = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
SCHOOL = sample_snapshot("s1", pupils=12, staff=3, year_codes=("7",), classes_per_year=2)

#: The endpoints each provider's fetch reads (the fuzzed body replaces one of them).
ENDPOINTS = {
    "xporter": ["SchoolInfo", "Groups", "Staff", "Students", "GetToken"],
    "wonde": ["/v1.0/schools/K1/classes", "/employees", "/students", "schools/K1"],
    "assembly": [
        "/academic_years",
        "/teaching_groups",
        "/registration_groups",
        "/year_groups",
        "/staff_members",
        "/students",
        "/oauth/token",
    ],
    "oneroster": ["/classes", "/demographics", "/teachers", "/students", "/enrollments", "/token"],
}
#: Keys the real payloads use, so generated objects reach deep into the mappers.
KEYS = st.sampled_from(
    [
        "Students",
        "Staff",
        "Group",
        "Groups",
        "StudentMembers",
        "StaffMembers",
        "__pagination__",
        "PageNumber",
        "PageCount",
        "PageSize",
        "RowCount",
        "Id",
        "Type",
        "Name",
        "YearGroup",
        "LegalForename",
        "Forename",
        "Surname",
        "DateofBirth",
        "UPN",
        "GroupId",
        "StudentId",
        "ExceptionMessage",
        "token",
        "expires",
        "SchoolInfo",
        "CurrentAcademicYear",
        "data",
        "meta",
        "pagination",
        "next",
        "more",
        "id",
        "forename",
        "surname",
        "education_details",
        "upn",
        "classes",
        "registration",
        "region",
        "domain",
        "date_of_birth",
        "date",
        "student_ids",
        "supervisor_ids",
        "first_name",
        "last_name",
        "year_code",
        "dob",
        "demographics",
        "gender",
        "start_date",
        "end_date",
        "access_token",
        "expires_in",
        "users",
        "sourcedId",
        "givenName",
        "familyName",
        "grades",
        "userIds",
        "type",
        "identifier",
        "status",
        "enrollments",
        "classSourcedId",
        "userSourcedId",
        "role",
        "birthDate",
        "sex",
        "title",
        "classType",
        "subjects",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["2009-01-12", "Year  4", "7", "R", "K1", "A123456789012", "tobedeleted"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=30,
)


def _fake(provider: str) -> FakeBroker:
    schools = {"K1": SCHOOL}
    if provider == "xporter":
        return FakeXporter(secrets={"K1": "x"}, schools=schools, clock=CLOCK)
    if provider == "wonde":
        return FakeWonde(token="t", schools=schools, clock=CLOCK)
    if provider == "assembly":
        # No limit at the fake: hundreds of examples would hit Assembly's 600 per 5 minutes.
        return FakeAssembly(
            client_id="c",
            client_secret="s",
            refresh_tokens={"K1": "r"},
            schools=schools,
            clock=CLOCK,
            rate_limit=None,
        )
    return FakeOneRoster(client_id="c", client_secret="s", schools=schools, clock=CLOCK)


@pytest.fixture(scope="module")
def connections() -> Iterator[dict[str, tuple[FakeBroker, BrokerSchool]]]:
    quick = HttpSettings(
        read_timeout=2.0, retry=RetryPolicy(attempts=1, wait_initial=0, wait_jitter=0)
    )
    out: dict[str, tuple[FakeBroker, BrokerSchool]] = {}
    for provider in ENDPOINTS:
        fake = _fake(provider).start()
        limit = (
            {"rate_limit": RateLimit(requests=10**6, period=1.0)} if provider == "assembly" else {}
        )
        out[provider] = (fake, fake.connect("K1", settings=quick, **limit))  # type: ignore[attr-defined]
    yield out
    for fake, conn in out.values():
        conn.close()
        fake.stop()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), payload=JSON)
def test_any_payload_shape_is_a_snapshot_or_a_schoolsync_error(
    connections: dict[str, tuple[FakeBroker, BrokerSchool]], data: Any, payload: Any
) -> None:
    provider = data.draw(st.sampled_from(sorted(ENDPOINTS)))
    endpoint = data.draw(st.sampled_from(ENDPOINTS[provider]))
    fake, conn = connections[provider]
    fake.faults.clear()
    fake.expire_tokens()
    fake.inject("body", endpoint=endpoint, body=json.dumps(payload).encode())
    try:
        conn.fetch()
    except SchoolsyncError:
        pass
    finally:
        fake.faults.clear()
