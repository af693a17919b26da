"""A person's match decisions are remembered in every store (in memory, SQLite, PostgreSQL).

The seed: "Unmatch after import: the app record gets its original data restored and the MIS
record shows as New", until a person matches them again; the same for a manual match. End to
end: unmatch -> review -> plan -> nightly dry run -> nightly sync (no re-link, no duplicate),
then a hand match that the next review and the nightly sync keep.

The PostgreSQL cases need SCHOOLSYNC_TEST_POSTGRES_DSN (see
tests/contract/test_store_contract_postgres.py).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import attrs
import pytest
from tests.integration.test_sync_stores import (  # the same stores, fixtures included
    CONN,
    NOW,
    NewStore,
    new_store,  # noqa: F401
)

from schoolsync.matching import (
    MatchStatus,
    match_classes,
    match_pupils,
    match_staff,
    match_year_groups,
)
from schoolsync.people import Pupil
from schoolsync.ports import MisSnapshot, Store
from schoolsync.sync import (
    Action,
    Outcome,
    RecordKind,
    SchoolRecords,
    SnapshotSource,
    apply,
    incremental_sync,
    plan,
    unmatch,
)
from schoolsync.sync.sample import sample_snapshot

TOMORROW = NOW + timedelta(days=1)


@pytest.fixture
def store(new_store: NewStore) -> Store:  # noqa: F811
    """An empty store of each kind (memory, SQLite, PostgreSQL) holding school ``s1``."""
    return new_store()


def feed() -> MisSnapshot:
    return sample_snapshot("s1", pupils=24, staff=3, year_codes=("5", "6"), taken_at=NOW)


def current(store: Store) -> SchoolRecords:
    with store.unit_of_work() as uow:
        return SchoolRecords.load(uow, "s1")


def pupil_review(store: Store, mis: MisSnapshot, *, honour: bool = True) -> Any:
    now = current(store)
    decisions = now.decisions if honour else ()
    return match_pupils(mis.pupils, list(now.pupils.values()), decisions=decisions)


def first_sync(store: Store, mis: MisSnapshot) -> Pupil:
    """The app knows one pupil, typed in by hand (forename in capitals, another year); the
    first sync links it to the MIS pupil and imports everything else. Returns that MIS pupil."""
    first = mis.pupils[0]
    with store.unit_of_work() as uow:
        uow.pupils.add(
            Pupil(
                id="app-1",
                school_id="s1",
                forename=first.forename.upper(),
                surname=first.surname,
                date_of_birth=first.date_of_birth,
                year_code="2",
                email="parent@home.example",
            )
        )
        uow.commit()
    now = current(store)
    reviews = [
        match_year_groups(mis.year_groups, list(now.year_groups.values())),
        match_classes(mis.classes, list(now.classes.values())),
        match_staff(mis.staff, list(now.staff.values())).select_all_new(),
        match_pupils(mis.pupils, list(now.pupils.values())).accept_all_may_match(),
    ]
    report = apply(plan(reviews, now, at=NOW), store, connection=CONN, at=NOW)
    assert [e.app_id for e in report.of(Outcome.LINKED)] == ["app-1"]
    return first


def pupils_and_links(store: Store) -> str:
    with store.unit_of_work() as uow:
        return json.dumps(
            [
                sorted(attrs.asdict(p, recurse=False)["id"] for p in uow.pupils.list()),
                sorted((lk.app_id, lk.mis_id) for lk in uow.sync_links.list()),
                attrs.asdict(uow.pupils.require("app-1"), recurse=False)["forename"],
            ],
            ensure_ascii=False,
        )


def nightly(store: Store, mis: MisSnapshot, *, dry_run: bool = False) -> Any:
    return incremental_sync(
        SnapshotSource(snapshot=mis),
        NOW,
        store,
        school_id="s1",
        connection=CONN,
        at=TOMORROW,
        dry_run=dry_run,
    )


def test_an_unmatch_is_remembered_by_the_review_the_plan_and_the_nightly_sync(
    store: Store,
) -> None:
    """After unmatch: the next review shows the MIS pupil New (not ticked) and the app pupil
    Not matched; no plan re-links them, even from a review that ignores the decisions; a
    nightly dry run and a nightly sync neither re-link nor import the MIS pupil as a
    duplicate (it is listed for a person)."""
    mis = feed()
    first = first_sync(store, mis)
    unmatch(store, RecordKind.PUPIL, "app-1", at=NOW, actor_id="amir")
    restored = pupils_and_links(store)
    assert first.forename.upper() in restored

    review = pupil_review(store, mis)
    assert review.result_for(mis=first).status is MatchStatus.NEW
    assert not review.is_selected(first)
    assert review.result_for(app="app-1").status is MatchStatus.NOT_MATCHED
    decided = plan(review, current(store), at=TOMORROW)
    assert all(c.mis_id != first.mis_id for c in decided.writes)
    assert all(c.app_id != "app-1" for c in decided.writes)

    # A review built without the decisions offers the same pair again; the plan holds it.
    unaware = pupil_review(store, mis, honour=False)
    assert unaware.result_for(app="app-1").is_pair
    held = plan(unaware, current(store), at=TOMORROW).for_app("app-1")
    assert held is not None
    assert held.action is Action.NEEDS_REVIEW

    dry = nightly(store, mis, dry_run=True)
    assert first.mis_id not in {e.mis_id for e in dry.of(Outcome.CREATED)}
    assert not dry.of(Outcome.LINKED)
    assert not dry.of(Outcome.RESTORED)
    assert first.mis_id in {e.mis_id for e in dry.of(Outcome.NEEDS_REVIEW)}
    nightly(store, mis)
    assert pupils_and_links(store) == restored


def test_a_hand_match_survives_the_next_review_and_the_nightly_sync(store: Store) -> None:
    """After the unmatch, a person matches the MIS pupil with the app pupil again by hand (in
    a review, planned and applied): the refusal is replaced by the match, the next review keeps
    the pair, and the nightly sync updates it rather than holding or duplicating it."""
    mis = feed()
    first = first_sync(store, mis)
    unmatch(store, RecordKind.PUPIL, "app-1", at=NOW, actor_id="amir")
    review = pupil_review(store, mis).match(first, "app-1")
    report = apply(plan(review, current(store), at=TOMORROW), store, connection=CONN, at=TOMORROW)
    assert [e.app_id for e in report.of(Outcome.LINKED)] == ["app-1"]
    remembered = current(store).decisions
    assert [(d.choice.value, d.mis_id, d.app_id) for d in remembered] == [
        ("match", first.mis_id, "app-1")
    ]

    again = pupil_review(store, mis)
    pair = again.result_for(app="app-1")
    assert pair.status is MatchStatus.MATCHED
    assert pair.mis is not None
    assert pair.mis.id == first.id
    linked = pupils_and_links(store)
    result = nightly(store, mis)
    assert first.mis_id not in {e.mis_id for e in result.of(Outcome.NEEDS_REVIEW)}
    assert first.mis_id not in {e.mis_id for e in result.of(Outcome.CREATED)}
    assert pupils_and_links(store) == linked


def test_the_broker_nightly_sync_keeps_an_unmatch(store: Store) -> None:
    """brokers.sync.nightly_sync: a pupil the sync imported and a person then unmatched (so
    soft-deleted) is neither restored nor imported again when the broker's next delta names
    it; it is listed for a person."""
    from schoolsync.brokers import HttpSettings, RetryPolicy
    from schoolsync.brokers.sync import nightly_sync
    from schoolsync.clock import FixedClock
    from schoolsync.testing.brokers import FakeWonde, import_school

    clock = FixedClock(NOW)
    served = sample_snapshot("s1", pupils=12, staff=2, year_codes=("7",))
    quick = HttpSettings(
        read_timeout=2.0, retry=RetryPolicy(attempts=3, wait_initial=0, wait_jitter=0)
    )
    with FakeWonde(token="t", schools={"K1": served}, clock=clock) as fake:
        conn = fake.connect("K1", settings=quick)
        import_school(store, conn, connection=CONN, at=NOW)
        link = next(iter(current(store).links_of(RecordKind.PUPIL)))
        unmatch(store, RecordKind.PUPIL, link.app_id, at=NOW, actor_id="amir")
        before = pupils_and_links_of(store)
        clock.advance(timedelta(days=1))
        named = tuple(
            attrs.evolve(p, preferred_forename="Sunny") if (p.mis_id or p.id) == link.mis_id else p
            for p in served.pupils
        )
        fake.set_school("K1", attrs.evolve(served, pupils=named))
        night = nightly_sync(conn, store, school_id="s1", connection=CONN, at=clock.now())
        conn.close()
    assert night.delta
    outcomes = {e.outcome for e in night.report.entries if e.mis_id == link.mis_id}
    assert outcomes == {Outcome.NEEDS_REVIEW}
    assert pupils_and_links_of(store) == before


def pupils_and_links_of(store: Store) -> tuple[list[str], list[tuple[str, str]]]:
    with store.unit_of_work() as uow:
        return (
            sorted(p.id for p in uow.pupils.list()),
            sorted((lk.app_id, lk.mis_id) for lk in uow.sync_links.list()),
        )
