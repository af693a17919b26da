"""Failure injection: prove a store adapter, and the services on it, are all-or-nothing.

:class:`FaultyStore` wraps any :class:`~schoolsync.ports.Store` and makes its *n*-th write
raise :class:`InjectedFailure`. A write is every call that changes the store: ``add``, ``put``,
``remove`` and each record of ``put_many`` on any repository, each ``audit.append``, and each
``commit``. :func:`whole_store` reads everything a store holds into a :class:`StoreSnapshot`.
:func:`fails_cleanly_at_every_write` puts them together: it runs an operation failing its 1st
write, then its 2nd, and so on until the operation succeeds, and checks after every failure
that the store is exactly as it was::

    from schoolsync.testing.faults import fails_cleanly_at_every_write

    def test_apply_is_all_or_nothing_on_my_store(my_store, plan, connection, now):
        report = fails_cleanly_at_every_write(
            my_store, lambda store: apply(plan, store, connection=connection, at=now)
        )
        assert report.failures_injected > 10

None of this needs pytest or hypothesis. A failed check raises :class:`NotAllOrNothingError`
(an :class:`AssertionError`, so test runners show it as a failed assertion) naming the write
that failed and what it left behind, by repository and record id (never record contents).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

from schoolsync.audit import AuditEvent
from schoolsync.ports import (
    AuditLog,
    ForwardingAuditLog,
    ForwardingUnitOfWork,
    Repository,
    Store,
    UnitOfWork,
)
from schoolsync.records.tables import Table
from schoolsync.storage.codec import TABLES

__all__ = [
    "REPOSITORIES",
    "FaultReport",
    "FaultyStore",
    "InjectedFailure",
    "NotAllOrNothingError",
    "StoreSnapshot",
    "fails_cleanly_at_every_write",
    "whole_store",
]

R = TypeVar("R")

#: The name of every repository of a :class:`~schoolsync.ports.UnitOfWork` (``audit`` aside).
REPOSITORIES: tuple[str, ...] = tuple(spec.name for spec in TABLES)


class InjectedFailure(Exception):
    """The failure a :class:`FaultyStore` raises at its chosen write.

    Deliberately not a :class:`~schoolsync.errors.SchoolsyncError`, so no service mistakes it
    for an error it expects and handles.
    """


class NotAllOrNothingError(AssertionError):
    """:func:`fails_cleanly_at_every_write` found an operation that is not all-or-nothing.

    Attributes:
        fail_at: the write that was made to fail (1 for the first), or ``None`` if the
            problem showed in a run without an injected failure.
        writes: the writes the failing run made, in order (``"pupils.put"``, ``"commit"``...).
        changes: what the run left behind, one line per repository (see
            :meth:`StoreSnapshot.changes_since`); empty if nothing was left behind.
    """

    def __init__(
        self,
        reason: str,
        *,
        fail_at: int | None,
        writes: Iterable[str] = (),
        changes: Iterable[str] = (),
    ) -> None:
        self.reason = reason
        self.fail_at = fail_at
        self.writes = tuple(writes)
        self.changes = tuple(changes)
        lines = [reason]
        if self.changes:
            lines.append("Left behind:")
            lines += [f"  {change}" for change in self.changes]
        if self.writes:
            lines.append("Writes of that run:")
            lines += [f"  {n}. {write}" for n, write in enumerate(self.writes, 1)]
        super().__init__("\n".join(lines))


@attrs.frozen(kw_only=True)
class FaultReport:
    """What :func:`fails_cleanly_at_every_write` saw of an operation that passed.

    Attributes:
        writes: the writes of the successful run, in order (``"backups.put_many"``,
            ``"pupils.put"``, ``"audit.append"``, ``"commit"``...).
        failures_injected: how many runs were failed, one per write, each leaving the store
            unchanged (equal to ``len(writes)``).
    """

    writes: tuple[str, ...]
    failures_injected: int


@attrs.frozen(kw_only=True)
class StoreSnapshot:
    """Everything a store holds: the records of every repository (ordered by id, keyed by the
    unit-of-work attribute name, e.g. ``"pupils"``) and the whole audit log (oldest first).

    Snapshots compare equal when the stores held the same records and events.
    """

    records: Mapping[str, tuple[Any, ...]]
    audit: tuple[AuditEvent, ...]

    def changes_since(self, before: StoreSnapshot) -> list[str]:
        """One line per repository (and the audit log) that differs from *before*, naming the
        ids added, removed and changed; empty if nothing differs."""
        lines = []
        for name in sorted(set(self.records) | set(before.records)):
            line = _id_changes(name, before.records.get(name, ()), self.records.get(name, ()))
            if line:
                lines.append(line)
        line = _id_changes("audit", before.audit, self.audit)
        if line:
            lines.append(line)
        return lines


def whole_store(store: Store) -> StoreSnapshot:
    """Read every repository and the whole audit log of *store* in one unit of work."""
    with store.unit_of_work() as uow:
        records = {name: tuple(getattr(uow, name).list()) for name in REPOSITORIES}
        return StoreSnapshot(records=records, audit=tuple(uow.audit.events()))


def _id_changes(name: str, before: Iterable[Any], after: Iterable[Any]) -> str:
    old = {getattr(r, "id", repr(r)): r for r in before}
    new = {getattr(r, "id", repr(r)): r for r in after}
    parts = []
    for label, ids in (
        ("added", sorted(new.keys() - old.keys())),
        ("removed", sorted(old.keys() - new.keys())),
        ("changed", sorted(k for k in old.keys() & new.keys() if old[k] != new[k])),
    ):
        if ids:
            shown = ", ".join(repr(i) for i in ids[:10])
            more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
            parts.append(f"{label} {shown}{more}")
    if not parts and list(before) != list(after):
        parts.append("reordered")
    return f"{name}: {'; '.join(parts)}" if parts else ""


# -- the wrapper ------------------------------------------------------------------------------


class FaultyStore:
    """A :class:`~schoolsync.ports.Store` wrapping *inner*; its ``fail_at``-th write raises
    :class:`InjectedFailure` (before reaching *inner*). ``fail_at=None`` never fails.

    Writes are counted across every unit of work the wrapper hands out: ``add``, ``put``,
    ``remove`` and each record of ``put_many`` (the records are passed to the inner
    ``put_many`` as a stream, so the adapter's own bulk code runs and fails part-way through),
    ``audit.append`` and ``commit``. Reads, ``rollback``, ``lock_school`` and ``lock_trust`` pass straight
    through, as does anything the inner store offers beyond the ports (uncounted).

    Attributes:
        writes: every write made so far, in order, as ``"<repository>.<method>"`` or
            ``"commit"``; the failing write is the last one.
        injected: the failure raised, once it has been.
    """

    def __init__(self, inner: Store, fail_at: int | None = None) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.writes: list[str] = []
        self.injected: InjectedFailure | None = None

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work of the inner store whose writes are counted."""
        return _FaultyUnitOfWork(self, self.inner.unit_of_work())

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()

    def write(self, what: str) -> None:
        """Count one write; raise :class:`InjectedFailure` if it is the chosen one."""
        self.writes.append(what)
        if len(self.writes) == self.fail_at:
            self.injected = InjectedFailure(f"injected failure at write {self.fail_at} ({what})")
            raise self.injected


class _FaultyRepository(Generic[R]):
    def __init__(self, owner: FaultyStore, unit: _FaultyUnitOfWork, name: str) -> None:
        self._owner, self._unit, self._name = owner, unit, name

    def _inner(self) -> Any:  # looked up at each call: adapters may build repositories lazily
        return getattr(self._unit.inner, self._name)

    def get(self, id: str) -> R | None:
        found: R | None = self._inner().get(id)
        return found

    def require(self, id: str) -> R:
        found: R = self._inner().require(id)
        return found

    def add(self, record: R) -> None:
        self._owner.write(f"{self._name}.add")
        self._inner().add(record)

    def put(self, record: R) -> None:
        self._owner.write(f"{self._name}.put")
        self._inner().put(record)

    def put_many(self, records: Iterable[R]) -> None:
        def counted() -> Iterator[R]:
            for record in records:  # one write per record: failures hit mid-batch
                self._owner.write(f"{self._name}.put_many")
                yield record

        self._inner().put_many(counted())

    def remove(self, id: str) -> None:
        self._owner.write(f"{self._name}.remove")
        self._inner().remove(id)

    def list(self, *, school_id: str | None = None) -> list[R]:
        found: list[R] = self._inner().list(school_id=school_id)
        return found

    def count(self, *, school_id: str | None = None) -> int:
        return int(self._inner().count(school_id=school_id))

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._inner(), attr)


class _FaultyAuditLog(ForwardingAuditLog):
    def __init__(self, owner: FaultyStore, unit: _FaultyUnitOfWork) -> None:
        self._owner, self._unit = owner, unit

    @property
    def inner(self) -> AuditLog:  # looked up at each call, like the repositories
        return self._unit.inner.audit

    def append(self, event: AuditEvent) -> None:
        self._owner.write("audit.append")
        self.inner.append(event)


class _FaultyUnitOfWork(ForwardingUnitOfWork):
    def __init__(self, owner: FaultyStore, inner: UnitOfWork) -> None:
        super().__init__(inner)
        self._owner = owner
        for name in REPOSITORIES:
            setattr(self, name, _FaultyRepository[Any](owner, self, name))
        self.audit: AuditLog = _FaultyAuditLog(owner, self)

    def repository(self, table: Table[R]) -> Repository[R]:
        """The counting repository of *table* (the attribute named after it)."""
        repo: Repository[R] = getattr(self, table.name)
        return repo

    def commit(self) -> None:
        self._owner.write("commit")
        self.inner.commit()


# -- the check --------------------------------------------------------------------------------


def fails_cleanly_at_every_write(
    store: Store,
    operation: Callable[[Store], object],
    *,
    max_writes: int = 100_000,
    must_change: bool = True,
) -> FaultReport:
    """Check that *operation* changes *store* all-or-nothing, whichever write fails.

    *operation* is called with a :class:`FaultyStore` wrapping *store* (use it instead of
    *store*), first failing its 1st write, then its 2nd, and so on until a run makes fewer
    writes than the one chosen to fail, and so succeeds. After each failed run the whole store
    (:func:`whole_store`) must be exactly as it was, so every run starts from the same state.
    Any exception the operation raises after the injected failure counts as the failure (a
    service may wrap it in its own error); any other exception is the operation's own and
    propagates unchanged.

    Args:
        store: the store under test, already holding what the operation needs; it is changed
            once, by the final successful run.
        operation: makes the change, given the store to use; must make the same writes each
            time it runs from the same state.
        max_writes: stop (with :class:`NotAllOrNothingError`) if the operation makes more.
        must_change: require the successful run to change the store (a run that changes
            nothing proves nothing).

    Returns:
        A :class:`FaultReport` with the writes of the successful run.

    Raises:
        NotAllOrNothingError: a failed run left changes behind (the message names the failing
            write and the ids left behind), the operation hid an injected failure and carried on,
            its writes differ from run to run, or the successful run changed nothing.
    """
    fail_at = 0
    while fail_at < max_writes:
        fail_at += 1
        before = whole_store(store)
        faulty = FaultyStore(store, fail_at)
        try:
            operation(faulty)
        except Exception:
            if faulty.injected is None:
                raise
            after = whole_store(store)
            if after != before:
                write = faulty.writes[fail_at - 1]
                raise NotAllOrNothingError(
                    f"write {fail_at} ({write}) failed and left changes behind",
                    fail_at=fail_at,
                    writes=faulty.writes,
                    changes=after.changes_since(before),
                ) from faulty.injected
            continue
        after = whole_store(store)
        if faulty.injected is not None:
            raise NotAllOrNothingError(
                f"write {fail_at} ({faulty.writes[fail_at - 1]}) failed but the operation "
                "returned normally, hiding the failure",
                fail_at=fail_at,
                writes=faulty.writes,
                changes=after.changes_since(before),
            )
        if len(faulty.writes) != fail_at - 1:
            raise NotAllOrNothingError(
                f"the operation made {fail_at - 1} or more writes in earlier runs but only "
                f"{len(faulty.writes)} in this one: its writes differ from run to run",
                fail_at=None,
                writes=faulty.writes,
            )
        if must_change and after == before:
            raise NotAllOrNothingError(
                "the successful run changed nothing, so the check proves nothing",
                fail_at=None,
                writes=faulty.writes,
            )
        return FaultReport(writes=tuple(faulty.writes), failures_injected=fail_at - 1)
    raise NotAllOrNothingError(
        f"the operation made more than {max_writes} writes (max_writes)", fail_at=None
    )
