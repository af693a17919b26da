"""An index's history holds only changes of access records: a sync's summary event is about
a school but holds no school record, so time travel past it must keep the school."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schoolsync.access.index import AccessIndex
from schoolsync.access.presets import boost_insights
from schoolsync.access.records import is_access_event, record_event
from schoolsync.records import (
    Account,
    AccountStatus,
    AuditAction,
    AuditEvent,
    RoleAssignment,
    School,
)
from schoolsync.records.tables import table_for
from schoolsync.testing.memory import MemoryStore

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _store_with_a_sync_summary() -> MemoryStore:
    store = MemoryStore()
    school = School(id="oak", name="Oak Primary")
    account = Account(
        id="a", trust_id="t", email="a@oak.example", name="A", status=AccountStatus.ACTIVE
    )
    role = RoleAssignment(id="r", account_id="a", trust_id="t", role="Teacher", school_id="oak")
    with store.unit_of_work() as uow:
        for record, kind in ((school, "school"), (account, "account"), (role, "assignment")):
            uow.repository(table_for(record)).add(record)
            uow.audit.append(record_event(kind, None, record, at=T0, actor_id=None))
        uow.audit.append(  # what sync.apply writes: about the school, not a school record
            AuditEvent(
                id="sync-1",
                at=T0 + timedelta(days=2),
                actor_id=None,
                action=AuditAction.MIS_SYNC_APPLY,
                subject_kind="school",
                subject_id="oak",
                school_id="oak",
                after={"sync_id": "s", "counts": {"pupil.create": 3}},
            )
        )
        uow.commit()
    return store


def test_time_travel_past_a_sync_keeps_the_school() -> None:
    store = _store_with_a_sync_summary()
    index = AccessIndex.from_store(boost_insights(), store, now=T0 + timedelta(days=3))
    assert index.check("a", "reports.school.view", "oak").allowed
    assert index.check("a", "reports.school.view", "oak", at=T0 + timedelta(days=1)).allowed
    assert all(is_access_event(e) for e in index.history)


def test_applying_a_sync_summary_changes_nothing() -> None:
    store = _store_with_a_sync_summary()
    index = AccessIndex.from_store(boost_insights(), store, now=T0 + timedelta(days=3))
    with store.unit_of_work() as uow:
        summary = [e for e in uow.audit.events() if e.id == "sync-1"]
    assert not is_access_event(summary[0])
    index.apply(summary)
    assert index.records.schools["oak"].name == "Oak Primary"
    assert index.check("a", "reports.school.view", "oak").allowed
