"""Credentials never appear in logs (ours, httpx's, httpcore's, at DEBUG), reprs or exception
text, whatever happens: refreshes, rate limits, refusals, failures."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from schoolsync.brokers import HttpSettings, RetryPolicy
from schoolsync.clock import FixedClock
from schoolsync.errors import SchoolsyncError
from schoolsync.records.tables import SYNC_WATERMARKS
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import FakeAssembly, FakeOneRoster, FakeWonde, FakeXporter

CLOCK = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
SCHOOL = sample_snapshot("s1", pupils=30, staff=4, year_codes=("7",), classes_per_year=2)
SECRETS = [
    "xod-SECRET-value-1",
    "wonde-TOKEN-value-2",
    "assembly-SECRET-value-3",
    "assembly-REFRESH-value-4",
    "oneroster-SECRET-value-5",
]
QUICK = HttpSettings(read_timeout=2.0, retry=RetryPolicy(attempts=5, wait_initial=0, wait_jitter=0))


def _fakes() -> list[Any]:
    schools = {"K1": SCHOOL}
    return [
        FakeXporter(secrets={"K1": SECRETS[0]}, schools=schools, clock=CLOCK),
        FakeWonde(token=SECRETS[1], schools=schools, clock=CLOCK),
        FakeAssembly(
            client_id="cid",
            client_secret=SECRETS[2],
            refresh_tokens={"K1": SECRETS[3]},
            schools=schools,
            clock=CLOCK,
            rate_limit=(1000, 1.0),
        ),
        FakeOneRoster(client_id="cid", client_secret=SECRETS[4], schools=schools, clock=CLOCK),
        FakeOneRoster(
            client_id="cid",
            client_secret=SECRETS[4],
            schools=schools,
            clock=CLOCK,
            version="1.1",
            oauth1=True,
        ),
    ]


def _texts_of(exc: BaseException) -> list[str]:
    out: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        out += [str(seen), repr(seen), *map(str, seen.args)]
        seen = seen.__cause__ or seen.__context__
    return out


def test_credentials_never_appear_anywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    issued: list[str] = []
    for fake in _fakes():
        with fake:
            conn = fake.connect("K1", settings=QUICK)
            shown += [repr(conn), str(conn), repr(conn.broker), repr(getattr(conn, "tokens", ""))]
            # A token expiring mid-run, a rate-limit storm and a server error, then success.
            fake.inject("expire_token", page=2)
            fake.inject("429", times=2, retry_after=0)
            fake.inject("500")
            fetched = conn.fetch()
            shown += [repr(fetched.watermark), *fetched.warnings()]
            # Then a refusal and a failure that ends the fetch.
            fake.expire_tokens()
            for attribute in ("secrets", "token", "refresh_tokens", "client_secret"):
                if hasattr(fake, attribute):
                    value = getattr(fake, attribute)
                    setattr(fake, attribute, {} if isinstance(value, dict) else "changed")
            for attempt in (conn.fetch, conn.fetch):
                with pytest.raises(SchoolsyncError) as caught:
                    attempt()
                shown += _texts_of(caught.value)
            issued += list(getattr(getattr(fake, "tokens", None), "issued", {}))
            conn.close()
    shown += [r.getMessage() for r in caplog.records]
    shown += [str(r.args) for r in caplog.records]
    assert caplog.records  # the layers did log
    everything = "\n".join(shown)
    for secret in [*SECRETS, *issued]:
        assert secret not in everything


def test_credentials_never_reach_the_store_or_its_audit_log() -> None:
    """A whole sync and a nightly delta from a broker: no credential in any stored record or
    audit event (the watermark holds a delta token, never an access token)."""
    import json
    from datetime import timedelta

    import attrs

    from schoolsync.brokers.sync import nightly_sync
    from schoolsync.serialisation import converter
    from schoolsync.sync import MisConnection, authorise
    from schoolsync.testing.brokers import import_school
    from schoolsync.testing.memory import MemoryStore

    clock = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    store = MemoryStore()
    connection = authorise(
        MisConnection(school_id="s1", provider="assembly", required_scopes={"r"}),
        actor_id="coordinator",
        granted_scopes={"r"},
        at=clock.now(),
        can_configure=lambda a, p, s: True,
    )
    with FakeAssembly(
        client_id="cid",
        client_secret=SECRETS[2],
        refresh_tokens={"K1": SECRETS[3]},
        schools={"K1": SCHOOL},
        clock=clock,
    ) as fake:
        conn = fake.connect("K1", settings=QUICK)
        import_school(store, conn, connection=connection, at=clock.now())
        clock.advance(timedelta(days=1))
        fake.expire_tokens()  # the nightly run refreshes the token
        fake.set_school("K1", attrs.evolve(SCHOOL, pupils=SCHOOL.pupils[1:]))
        nightly_sync(conn, store, school_id="s1", connection=connection, at=clock.now())
        issued = list(fake.tokens.issued)
        conn.close()
    with store.unit_of_work() as uow:
        stored = [
            converter.unstructure(r)
            for name in ("pupils", "staff", "classes", "sync_links", "backups", "deleted")
            for r in getattr(uow, name).list()
        ]
        stored += [converter.unstructure(r) for r in uow.repository(SYNC_WATERMARKS).list()]
        events = uow.audit.events()
    assert events
    everything = json.dumps(stored, default=str) + json.dumps(
        [converter.unstructure(e) for e in events], default=str
    )
    for secret in [*SECRETS, *issued]:
        assert secret not in everything


@pytest.mark.parametrize("token", ["tok\u00efen-\U0005e563", "two words", "line\nbreak"])
def test_a_token_no_header_can_carry_is_refused_and_never_shown(token: str) -> None:
    """A broker answering its token request with a token that is not printable ASCII without
    spaces (found by tests/property/test_brokers_fuzz.py: httpx then raised a bare
    UnicodeEncodeError while building the next request): a BrokerAuthError naming the
    endpoint, and the token appears nowhere in it."""
    from schoolsync.errors import BrokerAuthError

    endpoints = {FakeXporter: "GetToken", FakeAssembly: "/oauth/token", FakeOneRoster: "/token"}
    for fake in _fakes()[:4]:
        if type(fake) not in endpoints:
            continue
        field = "token" if isinstance(fake, FakeXporter) else "access_token"
        body = json.dumps({field: token, "expires_in": 3600, "token_type": "Bearer"}).encode()
        with fake:
            conn = fake.connect("K1", settings=QUICK)
            fake.expire_tokens()
            fake.inject("body", endpoint=endpoints[type(fake)], body=body, times=10)
            with pytest.raises(BrokerAuthError) as caught:
                conn.fetch()
            texts = "\n".join(_texts_of(caught.value))
            assert "printable ASCII" in texts
            assert token not in texts
            assert repr(token) not in texts
            conn.close()
