"""Applying a plan: all or nothing, backups first, welcome messages, sync states and undo."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import attrs
import pytest

from schoolsync.errors import SyncedRecordEditError, SyncError, SyncGuardError
from schoolsync.people import Pupil, SchoolClass, StaffMember
from schoolsync.sync import (
    MisConnection,
    Outcome,
    Pairing,
    RecordKind,
    SchoolRecords,
    SyncPlan,
    SyncState,
    apply,
    authorise,
    check_app_edit,
    edit_record,
    plan_pairings,
    sync_state,
    unmatch,
)
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
SCHOOL = School(id="s1", name="Oak Primary", email_pattern="{forename}.{surname}@oak.example")
TABLES = (
    "schools",
    "pupils",
    "staff",
    "classes",
    "year_groups",
    "sync_links",
    "backups",
    "deleted",
    "tombstones",
)


def connection() -> MisConnection:
    return authorise(
        MisConnection(school_id="s1", provider="assembly", required_scopes={"read"}),
        actor_id="ac",
        granted_scopes={"read"},
        at=NOW,
        can_configure=lambda a, p, s: True,
    )


def snapshot(store: Any) -> dict[str, Any]:
    """Everything in the store, for before/after comparisons."""
    with store.unit_of_work() as uow:
        state = {t: getattr(uow, t).list() for t in TABLES}
        state["audit"] = uow.audit.events()
    return state


def world() -> tuple[MemoryStore, Pupil, list[Pairing]]:
    """A school with one app pupil and one app class; the MIS has them plus a new pupil and a
    new member of staff."""
    store = MemoryStore()
    app_cls = SchoolClass(id="ac1", school_id="s1", name="1 Oak")
    app = Pupil(
        id="a1",
        school_id="s1",
        forename="Zoey",
        surname="Smith",
        date_of_birth=date(2019, 1, 5),
        year_code="R",
        email="zoe@home.example",
    )
    with store.unit_of_work() as uow:
        uow.schools.add(SCHOOL)
        uow.pupils.add(app)
        uow.classes.add(app_cls)
        uow.commit()
    mis_cls = SchoolClass(id="MC1", school_id="mis", name="1 Oak", mis_id="MC1")
    mis_a = Pupil(
        id="m1",
        school_id="mis",
        mis_id="M1",
        forename="Zoe",
        surname="Smith",
        date_of_birth=date(2019, 5, 1),
        year_code="1",
        class_ids=("MC1",),
    )
    mis_b = attrs.evolve(mis_a, id="m2", mis_id="M2", forename="Bea")
    teacher = StaffMember(id="t1", school_id="mis", mis_id="T1", forename="Ann", surname="Lee")
    pairings = [
        Pairing(kind=RecordKind.CLASS, status="matched", mis=mis_cls, app=app_cls),
        Pairing(kind=RecordKind.PUPIL, status="matched", mis=mis_a, app=app),
        Pairing(kind=RecordKind.PUPIL, status="new", mis=mis_b),
        Pairing(kind=RecordKind.STAFF, status="new", mis=teacher),
    ]
    return store, app, pairings


def make_plan(store: Any, pairings: list[Pairing]) -> SyncPlan:
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, "s1")
    return plan_pairings(pairings, current, at=NOW)


class TestApply:
    def test_apply_creates_links_and_overwrites_with_mis_values(self) -> None:
        """After apply, the matched record carries the MIS values and both are Synced."""
        store, _, pairings = world()
        report = apply(make_plan(store, pairings), store, connection=connection(), at=NOW)
        assert {"created": 2, "linked": 2} == report.counts()
        with store.unit_of_work() as uow:
            a1 = uow.pupils.require("a1")
            assert ("Zoe", "1", ("ac1",)) == (a1.forename, a1.year_code, a1.class_ids)
            assert "zoe@home.example" == a1.email
            assert SyncState.SYNCED is sync_state(uow, RecordKind.PUPIL, "a1")
            assert 2 == uow.pupils.count(school_id="s1")

    def test_new_staff_get_a_welcome_message_after_commit(self) -> None:
        """Each newly imported member of staff is sent a welcome message to set a password."""
        store, _, pairings = world()
        notifier = RecordingNotifier()
        report = apply(
            make_plan(store, pairings), store, connection=connection(), at=NOW, notifier=notifier
        )
        (message,) = notifier.of_kind("welcome")
        assert "ann.lee@oak.example" == message.to
        assert 1 == report.messages_sent

    # A failure at every write of apply: tests/integration/test_sync_stores.py (every store).

    def test_second_run_changes_nothing(self) -> None:
        """Planning the same sync again after apply plans no writes and changes nothing."""
        store, _, pairings = world()
        apply(make_plan(store, pairings), store, connection=connection(), at=NOW)
        before = snapshot(store)
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        again = [
            attrs.evolve(p, app=current.records(p.kind).get(p.app.id)) if p.app else p
            for p in pairings
        ]
        second = plan_pairings(again, current, at=NOW)
        assert second.is_empty
        report = apply(second, store, connection=connection(), at=NOW)
        assert not report.changed
        assert before == snapshot(store)

    def test_stale_plan_is_refused(self) -> None:
        """If a record changed after planning, apply refuses and changes nothing."""
        store, app, pairings = world()
        sync_plan = make_plan(store, pairings)
        with store.unit_of_work() as uow:
            uow.pupils.put(attrs.evolve(app, surname="Changed"))
            uow.commit()
        before = snapshot(store)
        with pytest.raises(SyncError, match="stale"):
            apply(sync_plan, store, connection=connection(), at=NOW)
        assert before == snapshot(store)

    def test_deauthorised_connection_refuses(self) -> None:
        """No sync runs without an authorised connection."""
        store, _, pairings = world()
        idle = MisConnection(school_id="s1", provider="assembly", required_scopes={"read"})
        with pytest.raises(SyncError):
            apply(make_plan(store, pairings), store, connection=idle, at=NOW)

    def test_guard_refuses_unless_forced(self) -> None:
        """A plan marking too many synced records Out of sync is refused unless forced."""
        store, _, pairings = world()
        apply(make_plan(store, pairings), store, connection=connection(), at=NOW)
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        gone = [
            Pairing(kind=RecordKind.PUPIL, status="not_matched", app=p)
            for p in current.pupils.values()
        ]
        sync_plan = plan_pairings(gone, current, at=NOW)
        with pytest.raises(SyncGuardError, match="2 of 2"):
            apply(sync_plan, store, connection=connection(), at=NOW)
        report = apply(sync_plan, store, connection=connection(), at=NOW, force=True)
        assert 2 == len(report.of(Outcome.OUT_OF_SYNC))


class TestSyncedEdits:
    def test_synced_record_refuses_edits_except_email(self) -> None:
        """A Synced record may only have its email changed in the app."""
        store, _, pairings = world()
        apply(make_plan(store, pairings), store, connection=connection(), at=NOW)
        with store.unit_of_work() as uow:
            a1 = uow.pupils.require("a1")
            with pytest.raises(SyncedRecordEditError, match="surname"):
                edit_record(uow, attrs.evolve(a1, surname="Jones"))
            edit_record(uow, attrs.evolve(a1, email="zoe@school.example"))
            uow.commit()
        with store.unit_of_work() as uow:
            assert "zoe@school.example" == uow.pupils.require("a1").email

    def test_unsynced_and_out_of_sync_records_are_editable(self) -> None:
        """App-only records are edited freely."""
        store, app, _ = world()
        with store.unit_of_work() as uow:
            check_app_edit(uow, app, attrs.evolve(app, surname="Jones"))
            assert sync_state(uow, RecordKind.PUPIL, "a1") is None


class TestUnmatch:
    def test_unmatch_restores_the_original_record_exactly(self) -> None:
        """Unmatching after apply gives the app record back as it was; the link goes."""
        store, app, pairings = world()
        apply(make_plan(store, pairings), store, connection=connection(), at=NOW)
        report = unmatch(store, RecordKind.PUPIL, "a1", at=NOW)
        assert Outcome.UNLINKED is report.entries[0].outcome
        with store.unit_of_work() as uow:
            assert app == uow.pupils.require("a1")
            assert sync_state(uow, RecordKind.PUPIL, "a1") is None
            current = SchoolRecords.load(uow, "s1")
        assert current.link_of_mis(RecordKind.PUPIL, "M1") is None

    def test_unmatch_of_an_imported_record_soft_deletes_it(self) -> None:
        """A record the sync created has no earlier state: unmatching soft-deletes it."""
        store, _, pairings = world()
        sync_plan = make_plan(store, pairings)
        apply(sync_plan, store, connection=connection(), at=NOW)
        created = sync_plan.for_mis("M2")
        assert created is not None
        assert created.app_id is not None
        unmatch(store, RecordKind.PUPIL, created.app_id, at=NOW)
        with store.unit_of_work() as uow:
            assert uow.pupils.get(created.app_id) is None
            (deleted,) = uow.deleted.list()
        assert "M2" == deleted.mis_id

    def test_unmatch_of_an_unlinked_record_is_refused(self) -> None:
        """Only linked records can be unmatched."""
        store, _, _ = world()
        with pytest.raises(SyncError, match="not linked"):
            unmatch(store, RecordKind.PUPIL, "a1", at=NOW)


class TestSavedPlans:
    def test_a_saved_plan_applies_like_the_original(self) -> None:
        """A plan saved as JSON and read back applies to the same result."""
        import json

        from schoolsync.sync import plan_from_dict, plan_to_dict, report_from_dict, report_to_dict

        store, _, pairings = world()
        sync_plan = make_plan(store, pairings)
        loaded = plan_from_dict(json.loads(json.dumps(plan_to_dict(sync_plan))))
        assert [c.after for c in sync_plan.changes] == [c.after for c in loaded.changes]
        assert [c.before for c in sync_plan.changes] == [c.before for c in loaded.changes]
        report = apply(loaded, store, connection=connection(), at=NOW)
        other, _, pairings = world()
        apply(sync_plan, other, connection=connection(), at=NOW)
        mine, theirs = snapshot(store), snapshot(other)
        mine.pop("audit"), theirs.pop("audit")
        assert theirs == mine
        assert report == report_from_dict(json.loads(json.dumps(report_to_dict(report))))

    def test_a_saved_plan_of_an_unknown_version_is_refused(self) -> None:
        """Data that is not a saved plan of this format is refused with ValidationError."""
        from schoolsync.errors import ValidationError
        from schoolsync.sync import plan_from_dict, plan_to_dict

        store, _, pairings = world()
        data = plan_to_dict(make_plan(store, pairings))
        with pytest.raises(ValidationError):
            plan_from_dict({**data, "format_version": 99})
        with pytest.raises(ValidationError):
            plan_from_dict({"format_version": 1, "changes": "nonsense"})
