"""Properties of the nightly sync and the rollover: running twice is running once, and
nothing is ever lost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schoolsync.sync import (
    MisConnection,
    PlanOptions,
    SnapshotSource,
    authorise,
    incremental_sync,
    rollover_sync,
)
from schoolsync.sync.sample import evolve_snapshot, rolled_over, sample_snapshot
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.sync import import_snapshot
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
SEPT = datetime(2026, 9, 4, 2, tzinfo=UTC)
CONN = authorise(
    MisConnection(school_id="s1", provider="p", required_scopes={"read"}),
    actor_id="ac",
    granted_scopes={"read"},
    at=NOW,
    can_configure=lambda a, p, s: True,
)
TABLES = ("pupils", "staff", "classes", "year_groups", "sync_links", "deleted")


def state(store: MemoryStore) -> dict[str, Any]:
    with store.unit_of_work() as uow:
        return {t: getattr(uow, t).list() for t in TABLES}


def synced(pupils: int, seed: int) -> tuple[MemoryStore, Any]:
    store = MemoryStore()
    feed = sample_snapshot("s1", pupils=pupils, staff=3, seed=seed, taken_at=NOW)
    oak = School(id="s1", name="Oak", email_pattern="{forename}.{surname}@o.example")
    import_snapshot(store, feed, connection=CONN, at=NOW, school=oak)
    return store, feed


@settings(max_examples=25)
@given(
    pupils=st.integers(7, 40),
    seed=st.integers(0, 1000),
    repeat_every=st.integers(2, 30),
)
def test_rollover_twice_is_rollover_once_and_loses_nobody(
    pupils: int, seed: int, repeat_every: int
) -> None:
    """Whatever the school and its repeaters, a second rollover changes nothing and every
    pupil record is still there (leavers kept, Out of sync)."""
    store, feed = synced(pupils, seed)
    repeaters = [p.mis_id or "" for i, p in enumerate(feed.pupils) if i % repeat_every == 1]
    new_year = SnapshotSource(
        snapshot=rolled_over(feed, academic_year=2026, repeaters=repeaters, taken_at=SEPT)
    )
    rollover_sync(new_year, store, school_id="s1", connection=CONN, at=SEPT)
    once = state(store)
    again = rollover_sync(new_year, store, school_id="s1", connection=CONN, at=SEPT)
    assert not again.changed
    assert once == state(store)
    assert pupils == len(once["pupils"])


@settings(max_examples=25)
@given(
    pupils=st.integers(5, 40),
    changed=st.integers(0, 5),
    joiners=st.integers(0, 3),
    leavers=st.integers(0, 3),
)
def test_nightly_twice_is_nightly_once(
    pupils: int, changed: int, joiners: int, leavers: int
) -> None:
    """A nightly sync applied twice leaves the store as after the first."""
    store, feed = synced(pupils, 0)
    later = SnapshotSource(
        snapshot=evolve_snapshot(feed, changed=changed, joiners=joiners, leavers=leavers)
    )
    options = PlanOptions(guard_share=1.0)
    incremental_sync(later, NOW, store, school_id="s1", connection=CONN, at=NOW, options=options)
    once = state(store)
    again = incremental_sync(
        later, NOW, store, school_id="s1", connection=CONN, at=NOW, options=options
    )
    assert not again.changed
    assert once == state(store)
    assert pupils + joiners == len(once["pupils"])
