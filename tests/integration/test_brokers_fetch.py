"""Broker connectors against the fake brokers: real HTTP servers on loopback.

Every provider gives back exactly the school it serves, honours its paging quirks, and under
every injected fault ends either in that complete school or in a BrokerError."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from schoolsync.brokers import BrokerSchool, HttpSettings, RateLimits, RetryPolicy
from schoolsync.clock import FixedClock
from schoolsync.errors import BrokerAuthError, BrokerError
from schoolsync.ports import MisSnapshot
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import (
    FakeAssembly,
    FakeBroker,
    FakeOneRoster,
    FakeWonde,
    FakeXporter,
    school_with_registration_groups,
)

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
PROVIDERS = ("xporter", "wonde", "assembly", "oneroster")


class Sleeps:
    """Time that passes only when someone sleeps: records the waits asked for."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def school(pupils: int = 57, **options: Any) -> MisSnapshot:
    base = sample_snapshot(
        "s1", pupils=pupils, staff=9, year_codes=("7", "8"), classes_per_year=3, taken_at=NOW
    )
    return school_with_registration_groups(base, per_group=20, **options)


def make_fake(
    provider: str, snapshot: MisSnapshot, clock: FixedClock, **options: Any
) -> FakeBroker:
    schools = {"K1": snapshot}
    if provider == "xporter":
        return FakeXporter(secrets={"K1": "xod-secret"}, schools=schools, clock=clock, **options)
    if provider == "wonde":
        return FakeWonde(token="wonde-token", schools=schools, clock=clock, **options)
    if provider == "assembly":
        return FakeAssembly(
            client_id="cid",
            client_secret="assembly-secret",
            refresh_tokens={"K1": "refresh-1"},
            schools=schools,
            clock=clock,
            **options,
        )
    return FakeOneRoster(
        client_id="cid", client_secret="or-secret", schools=schools, clock=clock, **options
    )


def page_option(provider: str, size: int) -> dict[str, int]:
    key = {"xporter": "page_size", "wonde": "per_page", "assembly": "per_page"}.get(
        provider, "limit"
    )
    return {key: size}


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def quick(sleeps: Sleeps, timeout: float = 2.0) -> HttpSettings:
    """No real waiting; a read timeout long enough for a loaded machine (stall tests pass a
    shorter one and stall the fake for longer)."""
    return HttpSettings(
        read_timeout=timeout,
        connect_timeout=2.0,
        retry=RetryPolicy(attempts=4, wait_initial=0.0, wait_jitter=0.0, sleep=sleeps),
    )


@pytest.fixture
def settings(sleeps: Sleeps) -> HttpSettings:
    return quick(sleeps)


@pytest.fixture
def connect(sleeps: Sleeps) -> Iterator[Callable[..., tuple[FakeBroker, BrokerSchool]]]:
    started: list[FakeBroker] = []
    clients: list[BrokerSchool] = []

    def open_(
        provider: str,
        snapshot: MisSnapshot | None = None,
        *,
        size: int = 10,
        timeout: float = 2.0,
        **fake: Any,
    ) -> tuple[FakeBroker, BrokerSchool]:
        clock = FixedClock(NOW)
        f = make_fake(provider, snapshot or school(), clock, **fake).start()
        started.append(f)
        limits = RateLimits(clock=sleeps.clock, sleep=sleeps)
        conn = f.connect(  # type: ignore[attr-defined]
            "K1", settings=quick(sleeps, timeout), rate_limits=limits, **page_option(provider, size)
        )
        clients.append(conn)
        return f, conn

    yield open_
    for c in clients:
        c.close()
    for f in started:
        f.stop()


def comparable(snapshot: MisSnapshot) -> dict[str, Any]:
    """What a broker must preserve, independent of its own ids (Assembly numbers everything)."""
    classes = {c.id: c.name for c in snapshot.classes}
    return {
        "pupils": sorted(
            (
                p.forename,
                p.surname,
                str(p.upn),
                p.date_of_birth,
                p.gender,
                p.year_code,
                tuple(sorted(classes[c] for c in p.class_ids)),
            )
            for p in snapshot.pupils
        ),
        "staff": sorted(
            (s.forename, s.surname, tuple(sorted(classes[c] for c in s.class_ids)))
            for s in snapshot.staff
        ),
        "classes": sorted(classes.values()),
        "years": sorted(y.nc_year for y in snapshot.year_groups),
    }


@pytest.mark.parametrize("provider", PROVIDERS)
def test_full_fetch_gives_the_school_served(provider: str, connect: Any) -> None:
    served = school()
    _fake, conn = connect(provider, served)
    fetched = conn.fetch()
    assert comparable(served) == comparable(fetched.snapshot)
    assert not fetched.is_delta
    assert all(p.school_id == "s1" for p in fetched.snapshot.pupils)
    # Registration groups are classes described as such; their pupils are members.
    regs = [c for c in fetched.snapshot.classes if c.description == "registration group"]
    assert 3 == len(regs)
    # Classes get the year groups of their pupils.
    assert all(c.year_group_ids for c in fetched.snapshot.classes)
    # The connector is a MisSource: reading it fetches once.
    assert len(served.pupils) == len(list(conn.pupils()))


def test_wonde_lists_the_approved_schools_once_for_every_school_s_region(sleeps: Sleeps) -> None:
    """``WondeBroker.schools()`` reads every page of the approved schools and remembers their
    region domains: the schools fetched afterwards ask for no ``schools/{id}`` of their own."""
    served = {f"A{n}": school() for n in range(7)}
    with FakeWonde(token="t", schools=served, clock=FixedClock(NOW)) as fake:
        with fake.broker(settings=quick(sleeps)) as broker:
            assert {key: f"School {key}" for key in served} == broker.schools(per_page=3)
            assert 3 == fake.requests_to("/v1.0/schools") - fake.requests_to("/v1.0/schools/")
            fetched = broker.school("A4", school_id="s1").fetch()
        assert comparable(served["A4"]) == comparable(fetched.snapshot)
        assert [] == [r for r in fake.log if r.path == "/v1.0/schools/A4"]
        with fake.connect("A4", settings=quick(sleeps)) as unlisted:  # asks for its region
            unlisted.fetch()
        assert 1 == len([r for r in fake.log if r.path == "/v1.0/schools/A4"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_fake_serving_from_its_own_process_speaks_the_same_protocol(
    provider: str, connect: Any, sleeps: Sleeps
) -> None:
    """``process=True`` moves the fake to a process of its own (as a real broker is another
    machine); faults, changes and the request log still reach it through the fake."""
    import os

    served = school()
    fake, conn = connect(provider, served, process=True)
    assert fake.pid != os.getpid()
    assert comparable(served) == comparable(conn.fetch().snapshot)
    requests = len(fake.log)
    assert requests > 0
    assert all(r.status == 200 for r in fake.log)
    fake.inject("429", times=2, retry_after=3)
    assert comparable(served) == comparable(conn.fetch().snapshot)
    assert [3.0, 3.0] == sleeps.waits
    assert 2 == sum(1 for r in fake.log if r.status == 429)
    assert [] == [f for f in fake.remote("faults") if f.times > 0]
    fewer = attrs.evolve(served, pupils=served.pupils[1:])
    fake.set_school("K1", fewer)
    assert comparable(fewer) == comparable(conn.fetch().snapshot)
    fake.inject("500", times=50)
    with pytest.raises(BrokerError):
        conn.fetch()


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "fault", ["429", "500", "503", "truncate", "drop", "stall", "expire_token"]
)
def test_transient_faults_are_retried_into_the_complete_school(
    provider: str, fault: str, connect: Any, sleeps: Sleeps
) -> None:
    served = school()
    fake, conn = connect(provider, served, timeout=0.5 if fault == "stall" else 2.0)
    endpoint = {"xporter": "Students", "wonde": "students", "assembly": "/students"}.get(
        provider, "students"
    )
    times = 1 if fault == "expire_token" else 2
    fake.inject(fault, endpoint=endpoint, page=3, times=times, retry_after=7, delay=1.0)
    fetched = conn.fetch()
    assert comparable(served) == comparable(fetched.snapshot)
    if fault == "429":
        assert [7.0, 7.0] == sleeps.waits  # the broker's delay, honoured exactly


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_429_storm_ends_in_a_typed_error(provider: str, connect: Any) -> None:
    fake, conn = connect(provider)
    fake.inject("429", times=50, retry_after=1)
    with pytest.raises(BrokerError) as caught:
        conn.fetch()
    assert caught.value.provider == provider
    assert "429" in str(caught.value)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_delay_longer_than_allowed_is_not_waited(
    provider: str, connect: Any, sleeps: Sleeps
) -> None:
    fake, conn = connect(provider)
    fake.inject("429", times=1, retry_after=3600)
    with pytest.raises(BrokerError, match="3600 s"):
        conn.fetch()
    assert not sleeps.waits


@pytest.mark.parametrize("provider", ["xporter", "assembly", "oneroster"])
@pytest.mark.parametrize("fault", ["vanish", "duplicate"])
def test_items_moving_between_pages_end_the_fetch(provider: str, fault: str, connect: Any) -> None:
    """An item deleted or inserted while the pages are read shifts the later pages: the
    fetch refuses rather than hand planning a school with someone missing."""
    fake, conn = connect(provider)
    endpoint = {"xporter": "Students", "assembly": "/students"}.get(provider, "students")
    fake.inject(fault, endpoint=endpoint, page=3)
    with pytest.raises(BrokerError) as caught:
        conn.fetch()
    assert caught.value.school == "K1"
    assert caught.value.endpoint


def test_wonde_items_moving_between_cursor_pages_end_the_fetch(connect: Any) -> None:
    fake, conn = connect("wonde")
    fake.inject("duplicate", endpoint="students", page=3)
    with pytest.raises(BrokerError, match="came twice"):
        conn.fetch()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_page_that_never_comes_is_an_error_naming_the_endpoint(
    provider: str, connect: Any
) -> None:
    fake, conn = connect(provider, timeout=0.4)
    endpoint = {"xporter": "Staff", "wonde": "employees", "assembly": "/staff_members"}.get(
        provider, "teachers"
    )
    fake.inject("stall", endpoint=endpoint, page=1, times=10, delay=0.8)
    with pytest.raises(BrokerError, match="timed out") as caught:
        conn.fetch()
    assert endpoint.strip("/") in caught.value.endpoint


@pytest.mark.parametrize("provider", PROVIDERS)
def test_refused_credentials_are_an_auth_error(provider: str, connect: Any) -> None:
    fake, conn = connect(provider)
    if provider == "xporter":
        fake.secrets["K1"] = "changed"
    elif provider == "wonde":
        fake.token = "revoked"
    elif provider == "assembly":
        fake.refresh_tokens.clear()
    else:
        fake.client_secret = "rotated"
    fake.expire_tokens()
    with pytest.raises(BrokerAuthError):
        conn.fetch()


def test_xporter_errors_arrive_as_http_200(connect: Any) -> None:
    fake, conn = connect("xporter")
    fake.inject("error200", endpoint="Staff")
    with pytest.raises(BrokerError, match="Something went wrong"):
        conn.fetch()


def test_xporter_stops_on_page_count_although_the_last_page_links_onward(connect: Any) -> None:
    fake, conn = connect("xporter", size=25)  # 57 pupils: 3 pages, the last still links to 4
    conn.fetch()
    assert 3 == fake.requests_to("/Students")


def test_wonde_sends_no_pagination_block_for_50_or_fewer(connect: Any) -> None:
    small = school(pupils=30)
    fake, conn = connect("wonde", small, size=50)
    fetched = conn.fetch()
    assert 30 == len(fetched.snapshot.pupils)
    assert 1 == fake.requests_to("/students")


def test_wonde_reads_the_school_from_its_region_domain(settings: HttpSettings) -> None:
    served = school()
    with (
        FakeWonde(token="t", schools={"K1": served}) as region,
        FakeWonde(token="t", schools={"K1": served}, regions={"K1": ""}) as home,
    ):
        home.regions["K1"] = region.url.split("://", 1)[1]
        with home.connect("K1", settings=settings) as conn:
            fetched = conn.fetch()
        assert len(served.pupils) == len(fetched.snapshot.pupils)
        assert 1 == len(home.log)  # only the school lookup went to the default domain
        assert region.requests_to("/students") >= 1


@pytest.mark.parametrize("count_headers", [True, False])
def test_oneroster_pages_with_or_without_count_headers(count_headers: bool, connect: Any) -> None:
    served = school()
    _fake, conn = connect("oneroster", served, count_headers=count_headers)
    assert comparable(served) == comparable(conn.fetch().snapshot)


@pytest.mark.parametrize("fault", ["vanish", "duplicate"])
@pytest.mark.parametrize("endpoint", ["/students", "/classes"])
def test_oneroster_without_count_headers_sees_items_move_between_pages(
    fault: str, endpoint: str, connect: Any
) -> None:
    """No total to check against: each page starts on the item the page before ended on, so
    an item deleted (or added) before it while the collection is read is an error, never a
    pupil silently skipped."""
    fake, conn = connect("oneroster", size=3, count_headers=False)
    # One collection at a time, enrolments first: the collection changed is the one to see it
    # (read at once, enrolments or demographics may notice first: the fetch fails either way).
    conn.concurrency, conn.demographics = 1, False
    fake.inject(fault, endpoint=endpoint, page=3)
    with pytest.raises(BrokerError, match="does not start where page 2 ended") as caught:
        conn.fetch()
    assert caught.value.endpoint.endswith(endpoint)


@pytest.mark.parametrize(("concurrency", "prefetch"), [(1, 0), (4, 0), (1, 3), (4, 2)])
@pytest.mark.parametrize("limit", [1, 2, 10, 500])
def test_oneroster_reads_the_same_school_at_any_page_size_and_concurrency(
    concurrency: int, prefetch: int, limit: int, connect: Any
) -> None:
    """Collections read at once, pages asked for ahead or not: the same school, every time;
    pages asked for past a collection's end cost at most *prefetch* requests each."""
    served = school()
    fake, conn = connect("oneroster", served, size=limit, count_headers=False)
    conn.concurrency, conn.prefetch = concurrency, prefetch
    assert comparable(served) == comparable(conn.fetch().snapshot)
    assert all(r.status == 200 for r in fake.log)
    conn.prefetch = 0
    exact = conn.fetch().requests
    conn.prefetch = prefetch
    assert exact <= conn.fetch().requests <= exact + 5 * prefetch


def test_oneroster_a_failed_collection_stops_the_others(connect: Any) -> None:
    """The collections are read at once: the first to fail (enrolments, a page without its
    list) ends the fetch with its error, and the others stop at their next page (students
    stall on page 2, so whatever the scheduling no page 3 is asked for), with no reader left
    running."""
    import threading

    fake, conn = connect("oneroster", size=5, timeout=5.0)
    fake.inject("stall", endpoint="/students", page=2, delay=2.0)
    fake.inject("body", endpoint="enrollments", page=1, body=b'{"enrollments": "none"}')
    with pytest.raises(BrokerError, match="no 'enrollments' list") as caught:
        conn.fetch()
    assert caught.value.endpoint.endswith("enrollments")
    assert fake.requests_to("/students") <= 2  # a read to the end would ask for 14
    assert not [t for t in threading.enumerate() if t.name.startswith("schoolsync-broker")]


def test_oneroster_11_signs_every_request_with_oauth1(connect: Any) -> None:
    served = school()
    fake, conn = connect("oneroster", served, version="1.1", oauth1=True)
    assert comparable(served) == comparable(conn.fetch().snapshot)
    assert all(r.status == 200 for r in fake.log)


def test_assembly_sends_its_version_in_accept(connect: Any) -> None:
    _fake, conn = connect("assembly")
    conn.broker.version = "2"
    with pytest.raises(BrokerError, match="unsupported_version"):
        conn.fetch()


def test_assembly_refreshes_an_expired_school_token_and_tells_the_host(connect: Any) -> None:
    fake, conn = connect("assembly")
    refreshed: list[str] = []
    conn.broker.on_tokens = lambda school, tokens: refreshed.append(school)
    fake.inject("expire_token", endpoint="/staff_members")
    conn.fetch()
    assert ["K1"] == refreshed
    assert fake.requests_to("/oauth/token") == 1


def test_an_expired_token_without_refresh_is_an_auth_error(connect: Any) -> None:
    fake, conn = connect("assembly")
    conn.tokens = attrs.evolve(conn.tokens, refresh_token=None)
    fake.inject("expire_token", endpoint="/students")
    with pytest.raises(BrokerAuthError, match="no refresh token"):
        conn.fetch()


@pytest.mark.parametrize("provider", ["xporter", "assembly"])
def test_home_postcode_and_address_arrive_on_pupils_and_staff(provider: str, connect: Any) -> None:
    """Xporter (its Address group) and Assembly (``addresses=true``) carry a home postcode
    and address: the records keep them, for matching and the sync plan."""
    served = school(pupils=6)
    home = {"postcode": "MK42 7DJ", "address": "7 Hill Rise, Kempston"}
    served = attrs.evolve(
        served,
        pupils=[attrs.evolve(p, **home) if k % 2 else p for k, p in enumerate(served.pupils)],
        staff=[attrs.evolve(s, **home) for s in served.staff],
    )
    _fake, conn = connect(provider, served)
    fetched = conn.fetch().snapshot
    by_name = {(p.forename, p.surname): (p.postcode, p.address) for p in fetched.pupils}
    for k, p in enumerate(served.pupils):
        expected = ("MK42 7DJ", "7 Hill Rise, Kempston") if k % 2 else (None, None)
        assert by_name[(p.forename, p.surname)] == expected
    assert {(s.postcode, s.address) for s in fetched.staff} == {
        ("MK42 7DJ", "7 Hill Rise, Kempston")
    }
