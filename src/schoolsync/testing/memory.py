"""An in-memory :class:`~schoolsync.ports.Store`: the fake other projects' tests use.

It is a real implementation of the storage contract (all-or-nothing units of work, locks per
school and per trust), only without durability. Records are immutable attrs values, so a unit
of work keeps copies of the dictionaries it changes and swaps them in on commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any, TypeVar

from schoolsync.audit import AuditEvent
from schoolsync.errors import ConcurrentWriteError, DuplicateRecordError, NotFoundError
from schoolsync.storage.base import AuditFilter, AuditLogBase, RepositoryBase, RepositorySet
from schoolsync.storage.codec import TABLES, TableSpec, utc_key

__all__ = ["MemoryStore"]

R = TypeVar("R")

_GONE: Any = object()


class _MemoryRepository(RepositoryBase[R]):
    """Reads see the unit of work's own changes over the committed rows (read committed)."""

    def __init__(self, spec: TableSpec[R], base: dict[str, R]) -> None:
        self.spec = spec
        self._base = base
        self.changes: dict[str, R] = {}
        self.added: set[str] = set()  # ids add() inserted: nobody else may commit them first

    def get(self, id: str) -> R | None:
        row = self.changes.get(id)
        if row is _GONE:
            return None
        return row if row is not None else self._base.get(id)

    def _key(self, record: R) -> str:
        spec = self.spec
        if not isinstance(record, spec.record_type):  # as the SQL stores' codec refuses it
            raise TypeError(
                f"table {spec.name!r} holds {spec.record_type.__name__} records, "
                f"not {type(record).__name__}"
            )
        return str(record.id)  # type: ignore[attr-defined]

    def add(self, record: R) -> None:
        key = self._key(record)
        if self.get(key) is not None:
            raise DuplicateRecordError(self.spec.kind, key)
        self.changes[key] = record
        if key not in self._base:
            self.added.add(key)

    def put(self, record: R) -> None:
        self.changes[self._key(record)] = record

    def put_many(self, records: Iterable[R]) -> None:
        for record in records:
            self.changes[self._key(record)] = record

    def remove(self, id: str) -> None:
        if self.get(id) is None:
            raise NotFoundError(self.spec.kind, id)
        self.changes[id] = _GONE

    def _rows(self) -> list[R]:
        if not self.changes:
            return list(self._base.values())
        merged = dict(self._base)
        merged.update(self.changes)
        return [r for r in merged.values() if r is not _GONE]

    def list(self, *, school_id: str | None = None) -> list[R]:
        rows = self._rows()
        if school_id is not None:
            rows = [r for r in rows if getattr(r, "school_id", None) == school_id]
        return sorted(rows, key=lambda r: r.id)  # type: ignore[attr-defined]

    def check_added(self, base: dict[str, R]) -> None:
        """DuplicateRecordError if another unit of work committed an id this one added."""
        for key in self.added:
            if key in base and self.changes.get(key) is not _GONE:
                raise DuplicateRecordError(self.spec.kind, key)

    def apply_to(self, base: dict[str, R]) -> None:
        for key, row in self.changes.items():
            if row is _GONE:
                base.pop(key, None)
            else:
                base[key] = row


class _MemoryAuditLog(AuditLogBase):
    def __init__(self, committed: list[AuditEvent], new: list[AuditEvent]) -> None:
        self._committed = committed
        self._new = new

    def append(self, event: AuditEvent) -> None:
        self._new.append(event)

    def _find(self, wanted: AuditFilter) -> list[AuditEvent]:
        found = [e for e in [*self._committed, *self._new] if wanted.matches(e)]
        # Oldest first (naive times count as UTC, as in the SQL stores); sorted() is stable,
        # so events at the same time keep their append order.
        return sorted(found, key=lambda e: utc_key(e.at))


class _MemoryUnitOfWork(RepositorySet):
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._locks: list[tuple[str, str]] = []
        self._begin()

    def _repositories(self) -> dict[str, _MemoryRepository[Any]]:
        return {spec.name: getattr(self, spec.name) for spec in TABLES}

    def _begin(self) -> None:
        for spec in TABLES:
            setattr(self, spec.name, _MemoryRepository(spec, self._store._tables[spec.name]))
        self._new_events: list[AuditEvent] = []
        self.audit = _MemoryAuditLog(self._store._events, self._new_events)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        with self._store._mutex:
            repositories = self._repositories().items()
            for name, repo in repositories:  # all checks first: a refused commit changes nothing
                repo.check_added(self._store._tables[name])
            for name, repo in repositories:
                repo.apply_to(self._store._tables[name])
            self._store._events.extend(self._new_events)
        self._begin()
        self._release()

    def rollback(self) -> None:
        self._begin()
        self._release()

    def lock_school(self, school_id: str) -> None:
        """Take the school's lock until commit or rollback; a second writer is refused."""
        self._lock(("school", school_id), f"school {school_id!r}")

    def lock_trust(self, trust_id: str) -> None:
        """Take the trust's lock until commit or rollback; a second writer is refused."""
        self._lock(("trust", trust_id), f"trust {trust_id!r}")

    def _lock(self, key: tuple[str, str], label: str) -> None:
        if key in self._locks:
            return
        with self._store._mutex:
            if key in self._store._locks:
                raise ConcurrentWriteError(f"{label} is being changed by another writer")
            self._store._locks.add(key)
        self._locks.append(key)

    def _release(self) -> None:
        with self._store._mutex:
            for key in self._locks:
                self._store._locks.discard(key)
        self._locks.clear()


class MemoryStore:
    """A :class:`~schoolsync.ports.Store` held in memory (thread-safe commits, no durability).

    :meth:`~schoolsync.ports.UnitOfWork.lock_school` and ``lock_trust`` refuse a second writer
    to the same school (trust) with :class:`~schoolsync.errors.ConcurrentWriteError` rather
    than waiting, so threads sharing one store never interleave a locked change: a loser is
    refused, and a winner reads (under its lock) every change committed before it.
    """

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Any]] = {spec.name: {} for spec in TABLES}
        self._events: list[AuditEvent] = []
        self._mutex = threading.Lock()
        self._locks: set[tuple[str, str]] = set()  # ("school" | "trust", id) held by a writer

    def unit_of_work(self) -> _MemoryUnitOfWork:
        """A new unit of work over a private copy of the store's state."""
        return _MemoryUnitOfWork(self)  # type: ignore[abstract]  # repositories set per TABLES entry

    def close(self) -> None:
        """Nothing to release."""
