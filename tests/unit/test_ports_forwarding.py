"""schoolsync.ports.ForwardingUnitOfWork / ForwardingAuditLog: a wrapper passes every call of
the port through to the unit of work it wraps, except the ones a subclass overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schoolsync.ports import AuditLog, ForwardingAuditLog, ForwardingUnitOfWork, UnitOfWork
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.records.tables import PUPILS
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


class _CountingLog(ForwardingAuditLog):
    def __init__(self, inner: AuditLog) -> None:
        super().__init__(inner)
        self.appended = 0

    def append(self, event: AuditEvent) -> None:
        self.appended += 1
        super().append(event)


class _CountingUnit(ForwardingUnitOfWork):
    def __init__(self, inner: UnitOfWork) -> None:
        super().__init__(inner)
        self.commits = 0
        self.audit: AuditLog = _CountingLog(inner.audit)

    def commit(self) -> None:
        self.commits += 1
        super().commit()


def _event(id: str, school_id: str) -> AuditEvent:
    return AuditEvent(
        id=id,
        at=NOW,
        actor_id="ac",
        action=AuditAction.SCHOOL_CHANGED,
        subject_kind="school",
        subject_id=school_id,
        school_id=school_id,
    )


def test_a_wrapper_passes_through_what_it_does_not_override() -> None:
    store = MemoryStore()
    with _CountingUnit(store.unit_of_work()) as uow:
        uow.lock_trust("t1")
        uow.lock_school("s1")
        uow.schools.add(School(id="s1", name="Oak"))  # the inner unit's repository
        assert uow.repository(PUPILS) is uow.inner.repository(PUPILS)
        uow.audit.append(_event("e1", "s1"))
        uow.audit.append(_event("e2", "s2"))
        assert [e.id for e in uow.audit.events(school_id="s2")] == ["e2"]
        uow.commit()
    assert uow.commits == 1
    assert isinstance(uow.audit, _CountingLog)
    assert uow.audit.appended == 2
    with store.unit_of_work() as fresh:
        assert fresh.schools.require("s1").name == "Oak"
        assert [e.id for e in fresh.audit.events()] == ["e1", "e2"]


def test_leaving_without_commit_rolls_the_inner_unit_back() -> None:
    store = MemoryStore()
    with _CountingUnit(store.unit_of_work()) as uow:
        uow.schools.add(School(id="s1", name="Oak"))
    with store.unit_of_work() as fresh:
        assert fresh.schools.get("s1") is None


def test_private_names_are_not_passed_through() -> None:
    uow = ForwardingUnitOfWork(MemoryStore().unit_of_work())
    with pytest.raises(AttributeError):
        uow._anything  # noqa: B018
    bare = ForwardingUnitOfWork.__new__(ForwardingUnitOfWork)
    with pytest.raises(AttributeError):  # not a recursion when inner is not set yet
        bare.inner  # noqa: B018
