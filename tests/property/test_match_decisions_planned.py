"""Sync plans and the nightly sync never override a person's "not this one".

Whatever the automatic pairing offers (Matched or May match, linked before or not, soft-deleted
records waiting to be restored), no planned write links an MIS record to an app record a person
refused, unless a person matched that pair again (``Pairing.decided``); and the nightly sync,
planning from links alone, never imports or restores an MIS record a person unmatched.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from schoolsync.people import Pupil
from schoolsync.ports import MisSnapshot
from schoolsync.records import MatchChoice, MatchDecision, RecordKind
from schoolsync.sync import Action, Pairing, SchoolRecords, incremental_plan, plan_pairings
from schoolsync.sync.records import DeletedRecord, SyncLink
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.strategies import pupils
from schoolsync.trusts import School

AT = datetime(2026, 3, 2, 2, tzinfo=UTC)
LINKING = (Action.LINK, Action.CREATE, Action.RESTORE)


def _refusal(mis_id: str, app_id: str) -> MatchDecision:
    return MatchDecision.make(
        school_id="s1",
        kind=RecordKind.PUPIL,
        choice=MatchChoice.NOT_MATCH,
        mis_id=mis_id,
        app_id=app_id,
        decided_at=AT,
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(pupils(school_id="s1"), min_size=1, max_size=8),
    st.data(),
)
def test_a_refused_pair_is_linked_only_when_a_person_matched_it_again(
    people: list[Pupil], data: st.DataObject
) -> None:
    mis = [attrs.evolve(p, id=f"m{i}", mis_id=f"M{i}") for i, p in enumerate(people)]
    app = [attrs.evolve(p, id=f"a{i}", mis_id=None) for i, p in enumerate(people)]
    refused = {i for i in range(len(people)) if data.draw(st.booleans())}
    decided = {i for i in range(len(people)) if data.draw(st.booleans())}
    pairings = [
        Pairing(
            kind=RecordKind.PUPIL,
            status=data.draw(st.sampled_from(["matched", "may_match"])),
            mis=m,
            app=a,
            decided=i in decided,
        )
        for i, (m, a) in enumerate(zip(mis, app, strict=True))
    ]
    current = SchoolRecords(
        school=School(id="s1", name="Oak"),
        pupils={a.id: a for a in app},
        decisions=[_refusal(f"M{i}", f"a{i}") for i in refused],
    )
    sync_plan = plan_pairings(pairings, current, at=AT)
    for change in sync_plan.changes:
        i = int(str(change.app_id)[1:])
        if i in refused and i not in decided:
            assert change.action is Action.NEEDS_REVIEW
        else:
            assert change.action is Action.LINK


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_the_nightly_sync_never_imports_or_restores_an_unmatched_record(
    data: st.DataObject,
) -> None:
    feed: MisSnapshot = sample_snapshot("s1", pupils=6, staff=1, year_codes=("5",), taken_at=AT)
    classes = {
        f"app-{c.id}": SyncLink(
            id=f"class:app-{c.id}",
            school_id="s1",
            kind=RecordKind.CLASS,
            app_id=f"app-{c.id}",
            mis_id=c.mis_id or c.id,
        )
        for c in feed.classes
    }
    unmatched = data.draw(st.sets(st.integers(0, len(feed.pupils) - 1), min_size=1))
    # Some of the unmatched pupils had been imported by the sync: unmatching soft-deleted them.
    deleted = tuple(
        DeletedRecord(
            id=f"del-{i}",
            school_id="s1",
            kind=RecordKind.PUPIL,
            record_id=f"gone-{i}",
            deleted_at=AT - timedelta(days=1),
            purge_after=AT + timedelta(days=180),
            data={"id": f"gone-{i}", "school_id": "s1", "forename": "X", "surname": "Y"},
            mis_id=feed.pupils[i].mis_id,
        )
        for i in unmatched
        if data.draw(st.booleans())
    )
    current = SchoolRecords(
        school=School(id="s1", name="Oak"),
        classes={
            app_id: attrs.evolve(c, id=app_id)
            for app_id, c in zip(classes, feed.classes, strict=True)
        },
        links=tuple(classes.values()),
        deleted=deleted,
        decisions=[
            _refusal(
                str(feed.pupils[i].mis_id),
                f"gone-{i}" if any(d.record_id == f"gone-{i}" for d in deleted) else f"app-{i}",
            )
            for i in unmatched
        ],
    )
    sync_plan = incremental_plan(feed, current, at=AT)
    refused_mis = {feed.pupils[i].mis_id for i in unmatched}
    for change in sync_plan.changes:
        if change.kind is RecordKind.PUPIL and change.mis_id in refused_mis:
            assert change.action is Action.NEEDS_REVIEW
        elif change.kind is RecordKind.PUPIL:
            assert change.action is Action.CREATE  # the others join their synced class
