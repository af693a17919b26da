"""schoolsync.testing.faults: the failure-injection check catches operations and adapters that
are not all-or-nothing, and passes those that are."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

import schoolsync.testing
from schoolsync.audit import AuditEvent
from schoolsync.errors import SyncError
from schoolsync.people import Pupil
from schoolsync.ports import Store, UnitOfWork
from schoolsync.records.tables import TABLES
from schoolsync.testing.faults import (
    REPOSITORIES,
    FaultyStore,
    InjectedFailure,
    NotAllOrNothingError,
    fails_cleanly_at_every_write,
    whole_store,
)
from schoolsync.testing.memory import MemoryStore
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def pupil(id: str, surname: str = "Nowak") -> Pupil:
    return Pupil(id=id, school_id="s1", forename="Ola", surname=surname)


def event(id: str) -> AuditEvent:
    return AuditEvent(
        id=id, at=NOW, actor_id="ac", action="pupil.changed", subject_kind="pupil", subject_id="p1"
    )


def store_with_one_pupil() -> MemoryStore:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.schools.add(School(id="s1", name="Oak"))
        uow.pupils.add(pupil("p1"))
        uow.commit()
    return store


def one_unit(target: Store) -> None:
    """A change made in one unit of work: add, put_many of three, remove, audit, commit."""
    with target.unit_of_work() as uow:
        uow.schools.add(School(id="s2", name="Elm"))
        uow.pupils.put_many([pupil("p2"), pupil("p3"), pupil("p1", surname="Kowalska")])
        uow.lock_school("s1")
        assert uow.pupils.count() == 3
        uow.pupils.remove("p3")
        uow.audit.append(event("e1"))
        uow.commit()


class TestTheCheck:
    def test_an_operation_split_across_two_units_of_work_is_caught(self) -> None:
        """An operation committing in two units of work fails the check at the first write
        of the second unit, naming that write and the record the first unit left behind."""
        store = MemoryStore()
        before = whole_store(store)

        def two_units(target: Store) -> None:
            for name in ("Ann", "Bob"):
                with target.unit_of_work() as uow:
                    uow.schools.add(School(id=name, name=name))
                    uow.commit()

        with pytest.raises(NotAllOrNothingError) as caught:
            fails_cleanly_at_every_write(store, two_units)
        error = caught.value
        assert 3 == error.fail_at
        assert ("schools.add", "commit", "schools.add") == error.writes
        assert ("schools: added 'Ann'",) == error.changes
        assert str(error).startswith("write 3 (schools.add) failed and left changes behind")
        assert "  1. schools.add\n  2. commit\n  3. schools.add" in str(error)
        assert isinstance(error.__cause__, InjectedFailure)
        assert ["schools: added 'Ann'"] == whole_store(store).changes_since(before)

    def test_one_unit_of_work_passes_and_lists_every_write(self) -> None:
        """An all-or-nothing operation passes; each record of put_many, the audit append and
        the commit are writes, reads, locks are not; the store changes once."""
        store, expected = store_with_one_pupil(), store_with_one_pupil()
        report = fails_cleanly_at_every_write(store, one_unit)
        assert (
            "schools.add",
            "pupils.put_many",
            "pupils.put_many",
            "pupils.put_many",
            "pupils.remove",
            "audit.append",
            "commit",
        ) == report.writes
        assert 7 == report.failures_injected
        one_unit(expected)
        assert whole_store(expected) == whole_store(store)

    def test_an_adapter_whose_put_many_commits_each_record_is_caught(self) -> None:
        """An adapter that writes a bulk put's records outside the unit of work is caught
        by a failure at the batch's second record (the adapter's own put_many runs)."""

        class AutoCommittingPutMany:
            def __init__(self, store: Store, inner: Any) -> None:
                self._store, self._inner = store, inner

            def put_many(self, records: Iterable[Pupil]) -> None:
                for record in records:
                    with self._store.unit_of_work() as other:
                        other.pupils.put(record)
                        other.commit()

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        class LeakyStore(MemoryStore):
            def unit_of_work(self) -> Any:
                uow = super().unit_of_work()
                uow.pupils = AutoCommittingPutMany(self, uow.pupils)  # type: ignore[assignment]
                return uow

        def bulk(target: Store) -> None:
            with target.unit_of_work() as uow:
                uow.pupils.put_many([pupil("p1"), pupil("p2")])
                uow.commit()

        assert 3 == fails_cleanly_at_every_write(MemoryStore(), bulk).failures_injected
        with pytest.raises(NotAllOrNothingError, match=r"write 2 \(pupils\.put_many\)") as caught:
            fails_cleanly_at_every_write(LeakyStore(), bulk)
        assert ("pupils: added 'p1'",) == caught.value.changes

    def test_a_failure_the_service_wraps_counts_as_the_failure(self) -> None:
        """A service may turn the injected failure into its own error: still a clean failure."""

        def wrapping(target: Store) -> None:
            try:
                one_unit(target)
            except InjectedFailure as exc:
                raise SyncError("storage failed") from exc

        assert 7 == fails_cleanly_at_every_write(store_with_one_pupil(), wrapping).failures_injected

    def test_a_hidden_failure_is_reported(self) -> None:
        """An operation that swallows a failed write and returns normally fails the check."""

        def hiding(target: Store) -> None:
            with contextlib.suppress(InjectedFailure):
                one_unit(target)

        with pytest.raises(NotAllOrNothingError, match=r"write 1 .*returned normally") as caught:
            fails_cleanly_at_every_write(store_with_one_pupil(), hiding)
        assert 1 == caught.value.fail_at

    def test_the_operations_own_errors_propagate(self) -> None:
        """An error raised before any injected failure is the operation's own: it propagates."""

        def broken(target: Store) -> None:
            raise ValueError("bad plan")

        with pytest.raises(ValueError, match="bad plan"):
            fails_cleanly_at_every_write(MemoryStore(), broken)

    def test_a_run_that_changes_nothing_proves_nothing(self) -> None:
        """A run without writes fails the check unless must_change=False says it is expected."""

        def reads_only(target: Store) -> None:
            with target.unit_of_work() as uow:
                uow.pupils.list()

        with pytest.raises(NotAllOrNothingError, match="changed nothing"):
            fails_cleanly_at_every_write(MemoryStore(), reads_only)
        report = fails_cleanly_at_every_write(MemoryStore(), reads_only, must_change=False)
        assert ((), 0) == (report.writes, report.failures_injected)

    def test_writes_that_differ_between_runs_are_reported(self) -> None:
        """An operation making fewer writes each time it runs cannot be checked: it is said."""
        runs: list[int] = []

        def shrinking(target: Store) -> None:
            runs.append(1)
            with target.unit_of_work() as uow:
                for n in range(6 - 2 * len(runs)):
                    uow.pupils.put(pupil(f"p{n}"))
                uow.commit()

        with pytest.raises(NotAllOrNothingError, match="differ from run to run"):
            fails_cleanly_at_every_write(MemoryStore(), shrinking)

    def test_max_writes_bounds_the_check(self) -> None:
        """An operation making more writes than max_writes stops the check."""
        with pytest.raises(NotAllOrNothingError, match="more than 3 writes"):
            fails_cleanly_at_every_write(store_with_one_pupil(), one_unit, max_writes=3)


class TestFaultyStore:
    def test_without_fail_at_it_counts_and_passes_everything_through(self) -> None:
        """fail_at=None never fails; writes are logged across units of work, and rollback
        discards as it does on the inner store."""
        inner = store_with_one_pupil()
        faulty = FaultyStore(inner)
        with faulty.unit_of_work() as uow:
            uow.pupils.put(pupil("p2"))
            uow.rollback()
            assert uow.pupils.get("p2") is None
            assert "Nowak" == uow.pupils.require("p1").surname
        one_unit(faulty)
        assert ["pupils.put"] == faulty.writes[:1]
        assert faulty.injected is None
        with inner.unit_of_work() as uow:
            assert ["p1", "p2"] == [p.id for p in uow.pupils.list(school_id="s1")]
            assert ["e1"] == [e.id for e in uow.audit.events(school_id=None)]

    def test_the_chosen_write_raises_before_reaching_the_store(self) -> None:
        """The failing put_many record is the fourth write; the unit of work then rolls back."""
        inner = store_with_one_pupil()
        faulty = FaultyStore(inner, fail_at=4)
        with pytest.raises(InjectedFailure, match=r"write 4 \(pupils\.put_many\)"):
            one_unit(faulty)
        assert faulty.injected is not None
        assert 4 == len(faulty.writes)
        assert whole_store(store_with_one_pupil()) == whole_store(inner)

    def test_it_is_a_store(self) -> None:
        """The wrapper and its units of work offer every port the services use."""
        store: Store = FaultyStore(MemoryStore())
        uow: UnitOfWork = store.unit_of_work()
        for name in (*REPOSITORIES, "audit", "commit", "rollback", "lock_school"):
            assert hasattr(uow, name)
        store.close()


class TestWholeStore:
    def test_it_covers_every_repository_of_the_unit_of_work(self) -> None:
        """The snapshot reads every table of the registry (the repositories the UnitOfWork
        port declares as attributes and those reached through ``repository``), and the audit
        log."""
        registry = {table.name for table in TABLES}
        declared = {n for n in UnitOfWork.__annotations__ if n != "audit"}
        assert declared <= registry
        assert set(REPOSITORIES) == registry
        assert set(whole_store(MemoryStore()).records) == registry

    def test_changes_since_names_ids_only(self) -> None:
        """Differences name ids added, removed and changed per repository, never contents,
        and shorten long lists."""
        store = store_with_one_pupil()
        before = whole_store(store)
        with store.unit_of_work() as uow:
            uow.pupils.put(pupil("p1", surname="Kowalska"))
            uow.pupils.put_many(pupil(f"q{n:02}") for n in range(12))
            uow.schools.remove("s1")
            uow.audit.append(event("e1"))
            uow.commit()
        after = whole_store(store)
        assert [
            "audit: added 'e1'",
            "pupils: added 'q00', 'q01', 'q02', 'q03', 'q04', 'q05', 'q06', 'q07', 'q08', 'q09'"
            " and 2 more; changed 'p1'",
            "schools: removed 's1'",
        ] == sorted(after.changes_since(before))
        assert "Kowalska" not in repr(after.changes_since(before))
        assert [] == after.changes_since(after)

    def test_the_names_are_public_and_lazy(self) -> None:
        """schoolsync.testing exports the check and the snapshot."""
        assert schoolsync.testing.fails_cleanly_at_every_write is fails_cleanly_at_every_write
        assert schoolsync.testing.whole_store is whole_store
        assert "NotAllOrNothingError" in schoolsync.testing.__all__
