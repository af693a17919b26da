"""A whole sync from each fake broker into each store (memory, SQLite, PostgreSQL: the
``store`` fixture), then nightly deltas: a name change, a joiner, a leaver soft-deleted, the
leaver restored, and a change of fetch options that resets the delta. The watermark lives in
the store and moves only after a commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from schoolsync.brokers import BrokerSchool
from schoolsync.brokers.sync import load_watermark, nightly_sync
from schoolsync.clock import FixedClock
from schoolsync.errors import BrokerError, SyncGuardError
from schoolsync.ports import MisSnapshot, Store
from schoolsync.sync import MisConnection, Outcome, authorise
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import (
    FakeAssembly,
    FakeBroker,
    FakeOneRoster,
    FakeWonde,
    FakeXporter,
    import_school,
    quick_settings,
    school_with_registration_groups,
)
from schoolsync.trusts import School

DAY0 = datetime(2026, 3, 2, 2, tzinfo=UTC)
QUICK = quick_settings(read_timeout=2.0, attempts=3)


def fake_for(provider: str, served: MisSnapshot, clock: FixedClock) -> FakeBroker:
    schools = {"K1": served}
    if provider == "xporter":
        return FakeXporter(secrets={"K1": "s"}, schools=schools, clock=clock)
    if provider == "wonde":
        return FakeWonde(token="t", schools=schools, clock=clock)
    if provider == "assembly":
        return FakeAssembly(
            client_id="c",
            client_secret="s",
            refresh_tokens={"K1": "r"},
            schools=schools,
            clock=clock,
        )
    return FakeOneRoster(client_id="c", client_secret="s", schools=schools, clock=clock)


def connection() -> MisConnection:
    return authorise(
        MisConnection(school_id="s1", provider="broker", required_scopes={"roster"}),
        actor_id="coordinator",
        granted_scopes={"roster"},
        at=DAY0,
        can_configure=lambda a, p, s: True,
    )


def first_sync(store: Store, conn: BrokerSchool) -> None:
    """The reviewed first sync: everything New is imported, then the watermark is kept."""
    import_school(store, conn, connection=connection(), at=DAY0)


def pupils_by_mis(store: Store) -> dict[str, Any]:
    with store.unit_of_work() as uow:
        links = {lk.app_id: lk.mis_id for lk in uow.sync_links.list(school_id="s1")}
        return {links.get(p.id, p.id): p for p in uow.pupils.list(school_id="s1")}


@pytest.mark.parametrize("provider", ["xporter", "wonde", "assembly", "oneroster"])
def test_whole_sync_then_nightly_deltas(provider: str, store: Store) -> None:
    clock = FixedClock(DAY0)
    served = school_with_registration_groups(
        sample_snapshot("s1", pupils=64, staff=8, year_codes=("7", "8"), classes_per_year=2),
        per_group=16,
    )
    with fake_for(provider, served, clock) as fake:
        conn = fake.connect("K1", settings=QUICK)  # type: ignore[attr-defined]
        first_sync(store, conn)
        assert len(served.pupils) == len(pupils_by_mis(store))
        start = load_watermark(store, "s1", provider)
        assert start is not None

        # Day 1: a preferred name changes, one pupil joins a synced class, one leaves.
        clock.advance(timedelta(days=1))
        pupils = list(served.pupils)
        renamed, leaver = pupils[3], pupils[10]
        joiner = attrs.evolve(pupils[0], id="J0001", mis_id="J0001", upn=None, forename="Nia")
        day1 = attrs.evolve(
            served,
            pupils=tuple(
                [
                    attrs.evolve(p, preferred_forename="Sunny") if p is renamed else p
                    for p in pupils
                    if p is not leaver
                ]
                + [joiner]
            ),
        )
        fake.set_school("K1", day1)
        night = nightly_sync(conn, store, school_id="s1", connection=connection(), at=clock.now())
        assert night.delta
        assert 1 == len(night.soft_deleted)
        now = pupils_by_mis(store)
        assert len(served.pupils) == len(now)  # one left, one joined
        assert "Nia" in {p.forename for p in now.values()}
        assert "Sunny" in {p.preferred_forename for p in now.values()}
        moved = load_watermark(store, "s1", provider)
        assert moved is not None
        assert moved.taken_at > start.taken_at
        with store.unit_of_work() as uow:
            assert 1 == len(uow.deleted.list(school_id="s1"))

        # Day 2: the leaver comes back: restored from the soft delete, not duplicated.
        clock.advance(timedelta(days=1))
        fake.set_school("K1", attrs.evolve(day1, pupils=(*day1.pupils, leaver)))
        back = nightly_sync(conn, store, school_id="s1", connection=connection(), at=clock.now())
        assert back.delta
        assert [Outcome.RESTORED] == [
            e.outcome for e in back.report.entries if e.outcome is Outcome.RESTORED
        ]
        assert len(served.pupils) + 1 == len(pupils_by_mis(store))
        with store.unit_of_work() as uow:
            assert not uow.deleted.list(school_id="s1")

        # Changed fetch options break a delta: the next fetch is a full one.
        conn.close()
        other = fake.connect("K1", settings=QUICK, registration_groups=False)  # type: ignore[attr-defined]
        clock.advance(timedelta(days=1))
        with pytest.raises(SyncGuardError):  # registration groups vanish: the guard holds it
            nightly_sync(other, store, school_id="s1", connection=connection(), at=clock.now())
        assert load_watermark(store, "s1", provider) == back.watermark  # not moved
        full = nightly_sync(
            other, store, school_id="s1", connection=connection(), at=clock.now(), force=True
        )
        assert not full.delta
        other.close()


def test_a_failed_fetch_changes_nothing(store: Store) -> None:
    clock = FixedClock(DAY0)
    served = sample_snapshot("s1", pupils=40, staff=4, year_codes=("7",), classes_per_year=2)
    with fake_for("wonde", served, clock) as fake:
        conn = fake.connect("K1", settings=QUICK, per_page=10)  # type: ignore[attr-defined]
        first_sync(store, conn)
        before = load_watermark(store, "s1", "wonde")
        with store.unit_of_work() as uow:
            pupils_before = uow.pupils.list(school_id="s1")
        clock.advance(timedelta(days=1))
        fake.set_school("K1", attrs.evolve(served, pupils=served.pupils[:5]))
        fake.inject("500", endpoint="students", page=1, times=10)
        with pytest.raises(BrokerError):
            nightly_sync(conn, store, school_id="s1", connection=connection(), at=clock.now())
        assert before == load_watermark(store, "s1", "wonde")
        with store.unit_of_work() as uow:
            assert pupils_before == uow.pupils.list(school_id="s1")
        conn.close()


def test_the_watermark_commits_in_the_same_unit_of_work_as_the_sync(store: Store) -> None:
    """Fail each write of the first sync, then of a nightly sync, in turn: every failure leaves
    the store exactly as it was, the watermark included (never the sync without its
    watermark, nor the watermark without its sync); the run that succeeds commits once."""
    from schoolsync.testing.faults import fails_cleanly_at_every_write

    clock = FixedClock(DAY0)
    served = sample_snapshot("s1", pupils=12, staff=2, year_codes=("7",), classes_per_year=1)
    with fake_for("wonde", served, clock) as fake:
        conn = fake.connect("K1", settings=QUICK)  # type: ignore[attr-defined]
        with store.unit_of_work() as uow:
            uow.schools.add(School(id="s1", name="School", email_pattern="{forename}@s.example"))
            uow.commit()
        first = fails_cleanly_at_every_write(
            store, lambda s: import_school(s, conn, connection=connection(), at=DAY0)
        )
        assert first.writes.count("commit") == 1
        assert "sync_watermarks.put" in first.writes
        start = load_watermark(store, "s1", "wonde")
        assert start is not None

        clock.advance(timedelta(days=1))
        pupils = list(served.pupils)
        leaver = pupils[4]
        fake.set_school(
            "K1",
            attrs.evolve(
                served,
                pupils=tuple(
                    attrs.evolve(p, preferred_forename="Sunny") if p is pupils[2] else p
                    for p in pupils
                    if p is not leaver
                ),
            ),
        )
        night = fails_cleanly_at_every_write(
            store,
            lambda s: nightly_sync(
                conn, s, school_id="s1", connection=connection(), at=clock.now()
            ),
        )
        conn.close()
    assert night.writes.count("commit") == 1
    # The sync's writes, the soft delete of the leaver and the watermark: one commit.
    assert night.writes.index("sync_watermarks.put") < night.writes.index("commit")
    assert {"pupils.put_many", "deleted.put", "pupils.remove"} <= set(night.writes)
    moved = load_watermark(store, "s1", "wonde")
    assert moved is not None
    assert moved.taken_at > start.taken_at
    assert "Sunny" in {p.preferred_forename for p in pupils_by_mis(store).values()}


def test_a_delta_that_cannot_see_deletions_never_infers_one(store: Store) -> None:
    """Xporter's updatedSince mode sees no deletions: a pupil gone from the MIS is absent from
    the delta, which proves nothing, so the nightly sync leaves them Synced and says its
    deletions are incomplete; a full sync (full=True) then finds them: Out of sync, under the
    change-size guard, never soft-deleted from a delta's silence."""
    from schoolsync.sync import SyncState
    from schoolsync.sync.records import RecordKind

    clock = FixedClock(DAY0)
    served = sample_snapshot("s1", pupils=40, staff=4, year_codes=("7",), classes_per_year=2)
    with fake_for("xporter", served, clock) as fake:
        conn = fake.connect("K1", settings=QUICK, changesets=False)  # type: ignore[attr-defined]
        first_sync(store, conn)
        gone = served.pupils[7]
        clock.advance(timedelta(days=1))
        fake.set_school("K1", attrs.evolve(served, pupils=served.pupils[:7] + served.pupils[8:]))
        night = nightly_sync(conn, store, school_id="s1", connection=connection(), at=clock.now())
        assert night.delta
        assert not night.deletions_complete
        assert night.soft_deleted == ()

        def state_of_gone() -> SyncState:
            with store.unit_of_work() as uow:
                links = uow.sync_links.list(school_id="s1")
            return next(
                lk.state for lk in links if lk.kind is RecordKind.PUPIL and lk.mis_id == gone.mis_id
            )

        assert state_of_gone() is SyncState.SYNCED
        clock.advance(timedelta(hours=1))
        full = nightly_sync(
            conn, store, school_id="s1", connection=connection(), at=clock.now(), full=True
        )
        conn.close()
    assert not full.delta
    assert full.deletions_complete
    assert full.soft_deleted == ()
    assert state_of_gone() is SyncState.OUT_OF_SYNC
