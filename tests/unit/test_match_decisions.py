"""Match decisions a person made, remembered in the store (issue #13): the rule of which
decision replaces which, the review honouring them, the store path (audit, ids only), the
review workbook's or page's decisions recorded through it, and the nightly sync keeping them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from schoolsync.errors import DecisionsError, NotFoundError, ValidationError
from schoolsync.matching import MatchRule, MatchStatus, match_pupils
from schoolsync.people import Pupil
from schoolsync.ports import MisSnapshot
from schoolsync.records import MatchChoice, MatchDecision, MatchDecisions, RecordKind
from schoolsync.review import Choice, Decision, ReviewDecisions, record_review_decisions
from schoolsync.serialisation import converter
from schoolsync.sync import (
    Action,
    MisConnection,
    Outcome,
    Pairing,
    SchoolRecords,
    SnapshotSource,
    SyncReport,
    apply,
    authorise,
    forget_decision,
    incremental_sync,
    load_decisions,
    plan_pairings,
    record_decision,
)
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing import SequentialIds
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import School

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
P = RecordKind.PUPIL
CONN = authorise(
    MisConnection(school_id="s1", provider="p", required_scopes={"read"}),
    actor_id="ac",
    granted_scopes={"read"},
    at=AT,
    can_configure=lambda a, p, s: True,
)


def decision(
    choice: MatchChoice, mis_id: str, app_id: str | None = None, minutes: int = 0
) -> MatchDecision:
    return MatchDecision.make(
        school_id="s1",
        kind=P,
        choice=choice,
        mis_id=mis_id,
        app_id=app_id,
        decided_at=AT + timedelta(minutes=minutes),
        decided_by="amir",
    )


def pupil(pid: str, forename: str, surname: str, born: date, *, mis_id: str | None = None) -> Pupil:
    return Pupil(
        id=pid,
        school_id="s1",
        forename=forename,
        surname=surname,
        date_of_birth=born,
        mis_id=mis_id,
        year_code="5",
    )


MIS = [
    pupil("m1", "Ava", "Smith", date(2015, 1, 5), mis_id="M1"),
    pupil("m2", "Noah", "Jones", date(2015, 6, 7), mis_id="M2"),
    pupil("m3", "Isla", "Brown", date(2015, 9, 9), mis_id="M3"),
]
APP = [
    pupil("a1", "Ava", "Smith", date(2015, 1, 5)),
    pupil("a2", "Noah", "Jones", date(2015, 6, 7)),
]


class TestWhichDecisionReplacesWhich:
    def test_a_match_replaces_the_refusal_of_the_same_pair_and_other_matches(self) -> None:
        book = MatchDecisions(
            [
                decision(MatchChoice.NOT_MATCH, "M1", "a1"),
                decision(MatchChoice.NOT_MATCH, "M1", "a9"),
                decision(MatchChoice.MATCH, "M2", "a1"),
                decision(MatchChoice.NEW, "M1"),
            ]
        )
        after, replaced = book.deciding(decision(MatchChoice.MATCH, "M1", "a1", minutes=1))
        assert {(d.choice, d.mis_id, d.app_id) for d in replaced} == {
            (MatchChoice.NOT_MATCH, "M1", "a1"),
            (MatchChoice.MATCH, "M2", "a1"),
            (MatchChoice.NEW, "M1", None),
        }
        assert after.match_of_mis(P, "M1") == "a1"
        assert after.refused(P, "M1", "a9")  # "not that one" still holds

    def test_a_refusal_replaces_the_match_of_the_same_pair_only(self) -> None:
        book = MatchDecisions([decision(MatchChoice.MATCH, "M1", "a1")])
        after, replaced = book.deciding(decision(MatchChoice.NOT_MATCH, "M1", "a1", minutes=1))
        assert [d.choice for d in replaced] == [MatchChoice.MATCH]
        assert after.match_of_mis(P, "M1") is None
        assert after.unmatched_from(P, "M1") == ("a1",)
        _, none = after.deciding(decision(MatchChoice.NOT_MATCH, "M1", "a2", minutes=2))
        assert none == ()

    def test_import_and_leave_out_replace_each_other(self) -> None:
        book = MatchDecisions([decision(MatchChoice.NEW, "M1")])
        after, replaced = book.deciding(decision(MatchChoice.LEAVE_OUT, "M1", minutes=1))
        assert [d.choice for d in replaced] == [MatchChoice.NEW]
        assert after.import_choice(P, "M1") is MatchChoice.LEAVE_OUT

    def test_ids_never_collide_whatever_the_ids_hold(self) -> None:
        a = decision(MatchChoice.NOT_MATCH, "a:b", "c")
        b = decision(MatchChoice.NOT_MATCH, "a", "b:c")
        assert a.id != b.id


class TestAReviewHonoursDecisions:
    def test_a_refused_pair_is_split_and_its_mis_record_not_ticked(self) -> None:
        plain = match_pupils(MIS, APP)
        assert plain.result_for(app="a1").is_pair
        review = plain.honour([decision(MatchChoice.NOT_MATCH, "M1", "a1")])
        new = review.result_for(mis="m1")
        assert new.status is MatchStatus.NEW
        assert "unmatched by a person" in new.explanation
        assert not review.is_selected("m1")
        assert review.result_for(app="a1").status is MatchStatus.NOT_MATCHED
        assert review.result_for(app="a2").is_pair  # the rest as the matcher said
        assert review.is_selected("m3")

    def test_a_hand_match_beats_the_evidence(self) -> None:
        review = match_pupils(MIS, APP, decisions=[decision(MatchChoice.MATCH, "M3", "a1")])
        pair = review.result_for(app="a1")
        assert pair.mis is not None
        assert pair.mis.id == "m3"
        assert pair.status is MatchStatus.MATCHED
        assert pair.rule is MatchRule.MANUAL
        assert pair.confirmed
        assert pair.breakdown  # scored, so a person sees how little they share
        assert review.result_for(mis="m1").status is MatchStatus.NEW  # its old partner freed
        assert review.is_selected("m1")

    def test_import_and_leave_out_set_the_tick(self) -> None:
        review = match_pupils(
            MIS,
            APP,
            decisions=[decision(MatchChoice.NEW, "M1"), decision(MatchChoice.LEAVE_OUT, "M3")],
        )
        assert review.result_for(mis="m1").status is MatchStatus.NEW
        assert review.is_selected("m1")
        assert review.result_for(app="a1").status is MatchStatus.NOT_MATCHED
        assert not review.is_selected("m3")

    def test_decisions_about_absent_records_or_other_kinds_change_nothing(self) -> None:
        other_kind = MatchDecision.make(
            school_id="s1",
            kind=RecordKind.STAFF,
            choice=MatchChoice.NOT_MATCH,
            mis_id="M1",
            app_id="a1",
            decided_at=AT,
        )
        gone = decision(MatchChoice.MATCH, "M404", "a1")
        assert match_pupils(MIS, APP, decisions=[other_kind, gone]) == match_pupils(MIS, APP)


def decide(
    store: MemoryStore, choice: MatchChoice, mis_id: str | None, app_id: str | None = None
) -> MatchDecision:
    """A person's decision about school s1's pupils, recorded now."""
    assert mis_id is not None
    return record_decision(
        store, school_id="s1", kind=P, choice=choice, mis_id=mis_id, app_id=app_id, at=AT
    )


def school(store: MemoryStore) -> None:
    with store.unit_of_work() as uow:
        uow.schools.add(School(id="s1", name="Oak"))
        uow.commit()


class TestTheStorePath:
    def test_a_decision_is_stored_and_audited_with_ids_only(self) -> None:
        store = MemoryStore()
        school(store)
        made = record_decision(
            store,
            school_id="s1",
            kind=P,
            choice=MatchChoice.NOT_MATCH,
            mis_id="M1",
            app_id="a1",
            at=AT,
            actor_id="amir",
            ids=SequentialIds("d-"),
        )
        assert list(load_decisions(store, "s1")) == [made]
        assert made.decided_by == "amir"
        with store.unit_of_work() as uow:
            (event,) = uow.audit.events()
        assert event.action == "match_decision.made"
        assert (event.id, event.actor_id, event.subject_id) == ("d-1", "amir", made.id)
        assert event.after == {
            "kind": "pupil",
            "choice": "not_match",
            "mis_id": "M1",
            "app_id": "a1",
        }

    def test_a_later_decision_replaces_and_forgetting_brings_back_the_automatic_outcome(
        self,
    ) -> None:
        store = MemoryStore()
        school(store)
        kw = {"school_id": "s1", "kind": P, "mis_id": "M1", "actor_id": "amir"}
        first = record_decision(store, choice=MatchChoice.NOT_MATCH, app_id="a1", at=AT, **kw)
        later = AT + timedelta(hours=1)
        match = record_decision(store, choice=MatchChoice.MATCH, app_id="a2", at=later, **kw)
        assert [d.id for d in load_decisions(store, "s1")] == [first.id, match.id]
        new = record_decision(store, choice=MatchChoice.NEW, at=later, **kw)
        assert {d.choice for d in load_decisions(store, "s1")} == {
            MatchChoice.NOT_MATCH,
            MatchChoice.NEW,
        }
        with store.unit_of_work() as uow:
            last = uow.audit.events()[-1]
        assert last.after["replaced"] == [match.id]
        forget_decision(store, new.id, at=later, actor_id="amir")
        forget_decision(store, first.id, at=later, actor_id="amir")
        assert not load_decisions(store, "s1")
        assert match_pupils(MIS, APP, decisions=load_decisions(store, "s1")) == match_pupils(
            MIS, APP
        )
        with store.unit_of_work() as uow:
            assert uow.audit.events()[-1].action == "match_decision.removed"

    def test_decisions_that_do_not_fit_are_refused_and_nothing_is_written(self) -> None:
        store = MemoryStore()
        school(store)
        with pytest.raises(ValidationError, match="names an app record"):
            decide(store, MatchChoice.MATCH, "M1")
        with pytest.raises(ValidationError, match="MIS record only"):
            decide(store, MatchChoice.NEW, "M1", "a1")
        with pytest.raises(NotFoundError):
            forget_decision(store, "md-nope", at=AT)
        with store.unit_of_work() as uow:
            assert not uow.audit.events()
        assert not load_decisions(store, "s1")

    def test_not_this_one_about_a_linked_pair_is_the_seeds_unmatch(self) -> None:
        store, mis = synced()
        first = mis.pupils[1]
        app_id = link_of(store, first.mis_id or "")
        record_decision(
            store,
            school_id="s1",
            kind=P,
            choice=MatchChoice.NOT_MATCH,
            mis_id=first.mis_id or "",
            app_id=app_id,
            at=AT,
            actor_id="amir",
        )
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        assert current.link_of_app(P, app_id) is None  # unlinked (an imported one: soft-deleted)
        assert current.decisions.refused(P, first.mis_id or "", app_id)


def synced() -> tuple[MemoryStore, MisSnapshot]:
    """A school whose classes and pupils were imported from the MIS."""
    store = MemoryStore()
    school(store)
    mis = sample_snapshot("s1", pupils=8, staff=2, year_codes=("5",), taken_at=AT)
    pairings = [Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=y) for y in mis.year_groups]
    pairings += [Pairing(kind=RecordKind.CLASS, status="new", mis=c) for c in mis.classes]
    pairings += [Pairing(kind=P, status="new", mis=p) for p in mis.pupils[1:]]
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, "s1")
    apply(plan_pairings(pairings, current, at=AT), store, connection=CONN, at=AT)
    return store, mis


def link_of(store: MemoryStore, mis_id: str) -> str:
    with store.unit_of_work() as uow:
        link = SchoolRecords.load(uow, "s1").link_of_mis(P, mis_id)
    assert link is not None
    return link.app_id


def nightly(store: MemoryStore, mis: MisSnapshot, *, dry_run: bool = True) -> SyncReport:
    return incremental_sync(
        SnapshotSource(snapshot=mis),
        AT,
        store,
        school_id="s1",
        connection=CONN,
        at=AT + timedelta(days=1),
        dry_run=dry_run,
    )


class TestTheNightlySyncKeepsDecisions:
    def test_a_new_pupil_in_a_synced_class_is_imported_unless_a_person_left_it_out(self) -> None:
        store, mis = synced()
        first = mis.pupils[0]
        report = nightly(store, mis)
        assert first.mis_id in {e.mis_id for e in report.of(Outcome.CREATED)}
        decide(store, MatchChoice.LEAVE_OUT, first.mis_id)
        report = nightly(store, mis)
        assert first.mis_id in {e.mis_id for e in report.of(Outcome.SKIPPED)}
        assert first.mis_id not in {e.mis_id for e in report.of(Outcome.CREATED)}

    def test_a_hand_match_is_linked_not_imported(self) -> None:
        store, mis = synced()
        first = mis.pupils[0]
        with store.unit_of_work() as uow:
            uow.pupils.add(pupil("typed", "A", "B", date(2015, 1, 1)))
            uow.commit()
        decide(store, MatchChoice.MATCH, first.mis_id, "typed")
        dry = nightly(store, mis)
        assert [e.app_id for e in dry.of(Outcome.LINKED)] == ["typed"]
        assert first.mis_id not in {e.mis_id for e in dry.of(Outcome.CREATED)}

    def test_a_person_s_import_is_kept_for_a_pupil_in_no_synced_class(self) -> None:
        store, mis = synced()
        first = mis.pupils[0]
        loner = attrs.evolve(first, class_ids=())
        feed = attrs.evolve(mis, pupils=(loner, *mis.pupils[1:]))
        held = nightly(store, feed)
        assert first.mis_id in {e.mis_id for e in held.of(Outcome.NEEDS_REVIEW)}
        decide(store, MatchChoice.NEW, first.mis_id)
        made = nightly(store, feed)
        assert first.mis_id in {e.mis_id for e in made.of(Outcome.CREATED)}


class TestReviewDecisionsAreRecorded:
    def test_each_choice_is_remembered_through_the_store_path(self) -> None:
        store = MemoryStore()
        school(store)
        review = match_pupils(MIS, [*APP, pupil("a3", "Zed", "Quux", date(2015, 2, 2))])
        decisions = ReviewDecisions.empty(review)
        decisions = ReviewDecisions(
            kind=decisions.kind,
            review=decisions.review,
            decisions=(
                Decision(choice=Choice.REJECT, mis_id="m1", app_id="a1"),
                Decision(choice=Choice.MATCH, mis_id="m1", app_id="a3"),
                Decision(choice=Choice.ACCEPT, mis_id="m2", app_id="a2"),
                Decision(choice=Choice.DO_NOT_IMPORT, mis_id="m3"),
            ),
        )
        made = decisions.record(store, review, school_id="s1", at=AT, actor_id="amir")
        assert [(d.choice.value, d.mis_id, d.app_id) for d in made] == [
            ("not_match", "M1", "a1"),
            ("match", "M1", "a3"),
            ("match", "M2", "a2"),
            ("leave_out", "M3", None),
        ]
        remembered = load_decisions(store, "s1")
        again = match_pupils(MIS, [*APP, pupil("a3", "Zed", "Quux", date(2015, 2, 2))]).honour(
            remembered
        )
        assert again.results == decisions.apply(review).honour(remembered).results
        assert again.result_for(app="a3").mis == MIS[0]
        assert not again.is_selected("m3")
        with store.unit_of_work() as uow:
            logged = json.dumps([converter.unstructure(e) for e in uow.audit.events()])
        for name in ("Ava", "Smith", "Noah", "Isla", "Zed", "2015-"):
            assert name not in logged

    def test_decisions_about_another_review_write_nothing(self) -> None:
        store = MemoryStore()
        school(store)
        review = match_pupils(MIS, APP)
        other = ReviewDecisions(
            kind=RecordKind.PUPIL,
            review="not-this-review",
            decisions=(Decision(choice=Choice.IMPORT, mis_id="m3"),),
        )
        with pytest.raises(DecisionsError):
            record_review_decisions(store, review, other, school_id="s1", at=AT)
        assert not load_decisions(store, "s1")


class TestPlansNeverRelinkARefusedPair:
    def test_only_a_pair_a_person_matched_again_is_linked(self) -> None:
        store = MemoryStore()
        school(store)
        with store.unit_of_work() as uow:
            uow.pupils.add(APP[0])
            uow.commit()
        decide(store, MatchChoice.NOT_MATCH, "M1", "a1")
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        offered = Pairing(kind=P, status="matched", mis=MIS[0], app=APP[0])
        (held,) = plan_pairings([offered], current, at=AT).changes
        assert held.action is Action.NEEDS_REVIEW
        assert "unmatched" in held.reason
        again = Pairing(kind=P, status="matched", mis=MIS[0], app=APP[0], decided=True)
        sync_plan = plan_pairings([again], current, at=AT)
        assert [c.action for c in sync_plan.changes] == [Action.LINK]
        apply(sync_plan, store, connection=CONN, at=AT, actor_id="amir")
        assert [(d.choice, d.decided_by) for d in load_decisions(store, "s1")] == [
            (MatchChoice.MATCH, "amir")
        ]
