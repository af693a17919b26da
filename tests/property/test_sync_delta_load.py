"""Loading only what a nightly delta names (#19, speed): whatever the delta (renames, people
and classes it deletes, a joiner), the plan made against the narrow load is the plan made
against every record of the school; the narrow load reads only the named app records, and
gives way to the full load when the delta holds a record not linked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import attrs
from hypothesis import given
from hypothesis import strategies as st

from schoolsync.ports import MisSnapshot
from schoolsync.sync import MisConnection, SchoolRecords, authorise
from schoolsync.sync.incremental import Delta, incremental_plan, load_for_delta
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.sync import import_snapshot
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)


def _connection() -> MisConnection:
    return authorise(
        MisConnection(school_id="s1", provider="wonde", required_scopes={"read"}),
        actor_id="ac",
        granted_scopes={"read"},
        at=NOW,
        can_configure=lambda a, p, s: True,
    )


@cache
def _school() -> tuple[MemoryStore, MisSnapshot]:
    store = MemoryStore()
    feed = sample_snapshot("s1", pupils=40, staff=6, year_codes=("7", "8"), taken_at=NOW)
    oak = School(id="s1", name="Oak", email_pattern="{forename}@oak.example")
    import_snapshot(store, feed, connection=_connection(), at=NOW, school=oak)
    return store, feed


@given(
    renamed=st.sets(st.integers(0, 39), max_size=6),
    staff=st.sets(st.integers(0, 5), max_size=2),
    deleted=st.sets(st.integers(0, 39), max_size=3),
    gone_class=st.booleans(),
    joiner=st.booleans(),
)
def test_the_narrow_load_plans_what_the_full_load_plans(
    renamed: set[int], staff: set[int], deleted: set[int], gone_class: bool, joiner: bool
) -> None:
    store, feed = _school()
    pupils = [
        attrs.evolve(feed.pupils[i], forename=feed.pupils[i].forename + "-Jo")
        for i in sorted(renamed - deleted)
    ]
    if joiner:
        pupils.append(
            attrs.evolve(feed.pupils[0], id="NEW1", mis_id="NEW1", upn=None, forename="Nia")
        )
    members = [attrs.evolve(feed.staff[i], surname="Changed") for i in sorted(staff)]
    delta = Delta(
        deleted_people=frozenset(feed.pupils[i].id for i in deleted),
        deleted_classes=frozenset({feed.classes[0].id} if gone_class else ()),
    )
    snapshot = MisSnapshot(
        school_id="s1",
        taken_at=NOW + timedelta(days=1),
        pupils=tuple(pupils),
        staff=tuple(members),
        classes=(),
        year_groups=(),
    )
    at = NOW + timedelta(days=1)
    with store.unit_of_work() as uow:
        narrow = load_for_delta(uow, "s1", snapshot, delta)
        full = SchoolRecords.load(uow, "s1")

    assert (narrow is None) == joiner  # a record not linked needs the whole school
    if narrow is None:
        return
    assert set(narrow.pupils) <= set(full.pupils)
    assert len(narrow.pupils) == len(renamed | deleted)
    assert narrow.links == full.links
    assert incremental_plan(snapshot, narrow, at=at, since=NOW, delta=delta) == incremental_plan(
        snapshot, full, at=at, since=NOW, delta=delta
    )


def test_a_full_feed_always_needs_the_whole_school() -> None:
    store, feed = _school()
    with store.unit_of_work() as uow:
        assert load_for_delta(uow, "s1", feed, None) is None
