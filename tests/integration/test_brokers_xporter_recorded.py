"""Xporter on Demand against Groupcall's own recorded responses, served byte for byte by
schoolsync.testing.brokers.FakeXporterRecording (cassettes in tests/data/xporter)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from schoolsync.brokers import HttpSettings, RetryPolicy, XporterBroker, XporterSchool
from schoolsync.clock import FixedClock
from schoolsync.errors import BrokerError
from schoolsync.people import Gender
from schoolsync.testing.brokers import FakeXporterRecording

CASSETTES = Path(__file__).parents[1] / "data" / "xporter"
RECORDED_AT = FixedClock(datetime(2018, 6, 20, 10, tzinfo=UTC))


@pytest.fixture
def recorded() -> Iterator[tuple[FakeXporterRecording, XporterSchool]]:
    with FakeXporterRecording(CASSETTES) as fake:
        broker = XporterBroker(
            "relying-party.com",
            base_url=fake.url,
            token_url=fake.url + "/idaas/sts/STS/GetToken",
            clock=RECORDED_AT,
            settings=HttpSettings(retry=RetryPolicy(attempts=1)),
        )
        with broker:
            yield fake, broker.school("3281101", "secret", page_size=2, changesets=False)


def test_the_recorded_bodies_are_served_byte_for_byte(
    recorded: tuple[FakeXporterRecording, XporterSchool],
) -> None:
    fake, _ = recorded
    import httpx

    cassette = yaml.safe_load((CASSETTES / "school_info.yml").read_text(encoding="utf-8"))
    body = cassette["http_interactions"][0]["response"]["body"]["string"]
    response = httpx.get(
        fake.url + "/api/v1/School/3281101/SchoolInfo",
        headers={"Authorization": "Idaas REDACTED-IDAAS-TOKEN"},
    )
    assert body.encode("utf-8") == response.content


def test_recorded_students_through_the_token_exchange_and_both_pages(
    recorded: tuple[FakeXporterRecording, XporterSchool],
) -> None:
    """The last recorded page (2 of 2) still links to page 3: the client stops on PageCount."""
    fake, school = recorded
    rows = list(school.rows("Students"))
    assert ["3116", "3217", "3221", "3920"] == [r["Id"] for r in rows]
    assert 1 == fake.requests_to("GetToken")
    assert 2 == fake.requests_to("/Students")
    pupils = {p.mis_id: p for p in school.pupils_from(rows)}
    albus = pupils["3116"]
    assert ("Albus", "Dumbledore") == (albus.forename, albus.surname)
    assert date(2009, 1, 12) == albus.date_of_birth  # the recording spells DateofBirth
    assert Gender.MALE == albus.gender
    assert "4" == albus.year_code  # "Year  4", with Xporter's double space
    assert "N2" == pupils["3920"].year_code  # "Year  N2"


def test_a_recorded_school_info_gives_the_academic_year(
    recorded: tuple[FakeXporterRecording, XporterSchool],
) -> None:
    _, school = recorded
    info = school.get("SchoolInfo")
    assert "2017" == info["SchoolInfo"][0]["CurrentAcademicYear"]


def test_a_recorded_error_in_an_http_200_is_a_broker_error(
    recorded: tuple[FakeXporterRecording, XporterSchool],
) -> None:
    _, school = recorded
    with pytest.raises(BrokerError, match="Something went wrong") as caught:
        school.get("TokenDetails", school_path=False)
    assert "xporter" == caught.value.provider


def test_a_partly_recorded_collection_is_an_error_not_a_short_school(
    recorded: tuple[FakeXporterRecording, XporterSchool],
) -> None:
    """Only page 1 of 20 of Staff was recorded: the missing page 2 ends the read."""
    _, school = recorded
    with pytest.raises(BrokerError, match="Staff"):
        list(school.rows("Staff"))


def test_recorded_students_carry_their_home_postcode_and_address(
    recorded: tuple[FakeXporterRecording, XporterSchool],
) -> None:
    """XoD's Address group (HouseNo, Street, District, TownOrCity, PostCode...) becomes the
    pupil's postcode and one-line address, as matching and the sync plan use them."""
    _, school = recorded
    pupils = {p.mis_id: p for p in school.pupils_from(list(school.rows("Students")))}
    assert ("PE4 7FQ", "3 Penrith Grove, Peterborough") == (
        pupils["3116"].postcode,
        pupils["3116"].address,
    )
    assert ("MK42 7DJ", "7 Hill Rise, Kempston, Bedford") == (
        pupils["3217"].postcode,
        pupils["3217"].address,
    )
