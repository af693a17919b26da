"""Properties of sync: apply then unmatch is the identity; a second run changes nothing;
generated emails are valid and distinct."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from schoolsync.people import Pupil, SchoolClass, StaffMember
from schoolsync.sync import (
    MisConnection,
    Pairing,
    RecordKind,
    SchoolRecords,
    apply,
    authorise,
    generate_emails,
    is_valid_email,
    plan_pairings,
    unmatch,
)
from schoolsync.testing.faults import whole_store
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.strategies import pupils, staff_members
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
CONN = authorise(
    MisConnection(school_id="s1", provider="p", required_scopes={"read"}),
    actor_id="ac",
    granted_scopes={"read"},
    at=NOW,
    can_configure=lambda a, p, s: True,
)


def store_with(*records: Any) -> MemoryStore:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.schools.add(School(id="s1", name="Oak", email_pattern="{forename}.{surname}@o.example"))
        uow.classes.add(SchoolClass(id="club", school_id="s1", name="Chess club"))
        for r in records:
            (uow.pupils if isinstance(r, Pupil) else uow.staff).add(r)
        uow.commit()
    return store


def current(store: MemoryStore) -> SchoolRecords:
    with store.unit_of_work() as uow:
        return SchoolRecords.load(uow, "s1")


@given(app=pupils(school_id="s1"), mis=pupils(school_id="mis"), in_club=st.booleans())
def test_apply_then_unmatch_restores_the_pupil_exactly(
    app: Pupil, mis: Pupil, in_club: bool
) -> None:
    """Whatever the two records hold, unmatching after apply gives the app pupil back, and the
    MIS record is linked to nothing (New again)."""
    app = attrs.evolve(app, class_ids=("club",) if in_club else ())
    store = store_with(app)
    pairing = Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis, app=app)
    apply(plan_pairings([pairing], current(store), at=NOW), store, connection=CONN, at=NOW)
    unmatch(store, RecordKind.PUPIL, app.id, at=NOW)
    with store.unit_of_work() as uow:
        assert app == uow.pupils.require(app.id)
        assert [] == uow.sync_links.list()
    assert current(store).link_of_mis(RecordKind.PUPIL, mis.mis_id or mis.id) is None


@given(app=staff_members(school_id="s1"), mis=staff_members(school_id="mis"))
def test_apply_then_unmatch_restores_the_staff_member_exactly(
    app: StaffMember, mis: StaffMember
) -> None:
    """The same holds for staff."""
    store = store_with(app)
    pairing = Pairing(kind=RecordKind.STAFF, status="may_match", mis=mis, app=app)
    apply(plan_pairings([pairing], current(store), at=NOW), store, connection=CONN, at=NOW)
    unmatch(store, RecordKind.STAFF, app.id, at=NOW)
    with store.unit_of_work() as uow:
        assert app == uow.staff.require(app.id)
        assert [] == uow.sync_links.list()


@given(
    lines=st.lists(
        st.tuples(pupils(school_id="mis"), st.booleans(), st.booleans()),
        min_size=1,
        max_size=6,
        unique_by=(lambda t: t[0].id, lambda t: t[0].mis_id),
    )
)
def test_second_run_of_the_same_sync_changes_nothing(
    lines: list[tuple[Pupil, bool, bool]],
) -> None:
    """After apply, planning the same review again writes nothing."""
    existing = [
        attrs.evolve(p, id=f"app-{p.id}", school_id="s1", mis_id=None)
        for p, has_app, _ in lines
        if has_app
    ]
    store = store_with(*existing)
    pairings = []
    for mis, has_app, selected in lines:
        if has_app:
            app = attrs.evolve(mis, id=f"app-{mis.id}", school_id="s1", mis_id=None)
            pairings.append(Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis, app=app))
        else:
            pairings.append(
                Pairing(kind=RecordKind.PUPIL, status="new", mis=mis, selected=selected)
            )
    apply(plan_pairings(pairings, current(store), at=NOW), store, connection=CONN, at=NOW)
    before = whole_store(store)
    now = current(store)
    again = [
        attrs.evolve(p, app=now.pupils[p.app.id]) if p.app is not None else p for p in pairings
    ]
    second = plan_pairings(again, now, at=NOW)
    assert [] == second.writes
    apply(second, store, connection=CONN, at=NOW)
    assert before == whole_store(store)


@given(st.lists(staff_members(school_id="s1"), max_size=12))
def test_generated_emails_are_valid_and_distinct(people: list[StaffMember]) -> None:
    """Every address made is valid, none collides, and everyone is either given one or reported."""
    people = list({p.id: p for p in people}.values())
    batch = generate_emails(people, "{forename}.{surname}@school.example")
    made = list(batch.generated.values())
    assert len(made) == len(set(made))
    assert all(is_valid_email(e) for e in made)
    assert {p.id for p in people} == set(batch.generated) | {f.staff_id for f in batch.failures}
