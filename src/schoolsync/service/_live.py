"""The live access index: one :class:`~schoolsync.access.AccessIndex` per store and process,
kept current incrementally.

Every unit of work the service opens is a :class:`TrackedUnitOfWork`: it collects the access
audit events the unit appends and, at its commit, writes them to the access change log
(``access_changes``) under the next version, holding the store lock :data:`ACCESS_LOCK`, so
versions follow the commit order in every process. After the commit the events are applied to
this process's index; another process's changes are found by reading the log's head row (one
indexed read) and applied from the log, never by rebuilding the index. A rebuild happens only
when the log no longer holds the versions this process missed (it keeps
:data:`KEEP_VERSIONS`), or an apply failed half way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from schoolsync.access.catalogue import RoleCatalogue
from schoolsync.access.decision import Decision
from schoolsync.access.index import AccessIndex
from schoolsync.access.records import _kind_of, is_access_event
from schoolsync.ports import (
    AuditLog,
    Clock,
    ForwardingAuditLog,
    ForwardingUnitOfWork,
    Store,
    UnitOfWork,
)
from schoolsync.records.accounts import Account
from schoolsync.records.audit import AuditEvent
from schoolsync.records.changes import HEAD_ID, AccessChange, change_id
from schoolsync.records.tables import ACCESS_CHANGES

__all__ = ["ACCESS_LOCK", "KEEP_VERSIONS", "LiveIndex", "TrackedStore", "TrackedUnitOfWork"]

#: The key of the store lock every change of access records holds until it commits.
ACCESS_LOCK = "schoolsync:access"

#: How many versions the access change log keeps (a process further behind rebuilds).
KEEP_VERSIONS = 1000


class _TrackingAuditLog(ForwardingAuditLog):
    """The unit of work's audit log, remembering the access events appended to it."""

    def __init__(self, inner: AuditLog) -> None:
        super().__init__(inner)
        self.access_events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        self.inner.append(event)
        if is_access_event(event):
            self.access_events.append(event)


class TrackedUnitOfWork(ForwardingUnitOfWork):
    """A store's unit of work whose commit also records its access changes (see the module).

    Everything else is the store's own unit of work: repositories, locks, the audit log.
    """

    def __init__(
        self,
        inner: UnitOfWork,
        live: LiveIndex,
        *,
        eager_lock: bool,
        before_commit: Callable[[UnitOfWork], None] | None = None,
        mutex: threading.RLock | None = None,
    ) -> None:
        super().__init__(inner)
        self._live = live
        self._before_commit = before_commit
        self._mutex = mutex  # held by this thread; released when the unit of work ends
        self._tracking = _TrackingAuditLog(inner.audit)
        self.audit: AuditLog = self._tracking
        #: Ids of access events already applied to the index as the unit of work went.
        self.applied: set[str] = set()
        if eager_lock:
            inner.lock_school(ACCESS_LOCK)

    def __enter__(self) -> Self:
        return self  # the store's unit of work was entered when this one was made

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.inner.__exit__(exc_type, exc, tb)
        finally:
            mutex, self._mutex = self._mutex, None
            if mutex is not None:
                mutex.release()

    def commit(self) -> None:
        """Run the store's check (if given), log the access changes under the next version,
        commit, then update the index."""
        if self._before_commit is not None:
            self._before_commit(self.inner)
        events = list(self._tracking.access_events)
        if not events:
            self.inner.commit()
            return
        self.inner.lock_school(ACCESS_LOCK)
        version = self._live.log(self.inner, events)
        accounts = _accounts_of(self.inner, events)
        self.inner.commit()
        applied, self.applied = self.applied, set()
        self._tracking.access_events.clear()
        self._live.committed(version, events, accounts, applied=applied)

    def rollback(self) -> None:
        """Discard the unit of work's changes (and the access events it collected)."""
        if self.applied:
            self.applied.clear()
            self._live.rebuild()
        self._tracking.access_events.clear()
        self.inner.rollback()


def _accounts_of(uow: UnitOfWork, events: Sequence[AuditEvent]) -> dict[str, Account]:
    """The full account records (names and emails, which events leave out) the events name."""
    found: dict[str, Account] = {}
    for event in events:
        if _kind_of(event.subject_kind) == "account" and event.after is not None:
            account = uow.accounts.get(event.subject_id)
            if account is not None:
                found[account.id] = account
    return found


class TrackedStore:
    """A :class:`~schoolsync.ports.Store` whose units of work are :class:`TrackedUnitOfWork`.

    Hand it to a service that opens its own units of work (the trust lifecycle, bulk change
    sets, the sync) so its access changes reach every process's index. With *eager_lock* each
    unit takes :data:`ACCESS_LOCK` when it begins (writers of access records then always
    take it first, so they never wait for each other in opposite orders). *before_commit*
    runs inside each unit of work just before it commits (a raise rolls it back): the office
    re-reads a school's MIS connection there, under the school's lock. *mutex* (the office's
    lock) is held from the start of each unit of work to its end, so the office's writers of
    access records in one process take turns instead of meeting at the store lock.
    """

    def __init__(
        self,
        store: Store,
        live: LiveIndex,
        *,
        eager_lock: bool,
        before_commit: Callable[[UnitOfWork], None] | None = None,
        mutex: threading.RLock | None = None,
    ) -> None:
        self._store = store
        self._live = live
        self._eager = eager_lock
        self._before_commit = before_commit
        self._mutex = mutex

    def unit_of_work(self) -> TrackedUnitOfWork:
        """A new tracked unit of work (holding the process's *mutex*, if given, until it ends)."""
        if self._mutex is not None:
            self._mutex.acquire()
        try:
            inner = self._store.unit_of_work()
            inner.__enter__()
        except BaseException:
            if self._mutex is not None:
                self._mutex.release()
            raise
        try:
            return TrackedUnitOfWork(
                inner,
                self._live,
                eager_lock=self._eager,
                before_commit=self._before_commit,
                mutex=self._mutex,
            )
        except BaseException as exc:
            inner.__exit__(type(exc), exc, exc.__traceback__)
            if self._mutex is not None:
                self._mutex.release()
            raise

    def close(self) -> None:
        """The store is the host's to close."""


class LiveIndex:
    """The access index of one store, current with every commit (see the module).

    Args:
        store: the store.
        catalogue: the role catalogue decisions use.
        clock: the time the index answers for (grants start and expire with it).
        max_staleness: seconds a check may answer without looking at the store's version
            (changes made through this process are seen at once, whatever this is); ``0``
            reads the version before every check.
        monotonic: the timer behind *max_staleness* (seconds).
    """

    def __init__(
        self,
        store: Store,
        catalogue: RoleCatalogue,
        *,
        clock: Clock,
        max_staleness: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_staleness < 0:
            raise ValueError("max_staleness must not be negative")
        self._store = store
        self._catalogue = catalogue
        self._clock = clock
        self._staleness = max_staleness
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._version = 0
        self._next_look = 0.0
        #: How many incremental catch-ups and full builds this index made (for tests and
        #: monitoring).
        self.catch_ups = 0
        self.builds = 0
        self._index = self._build()

    # -- reading ------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """The change-log version the index reflects."""
        return self._version

    @property
    def current(self) -> AccessIndex:
        """The index as it is (no look at the store's version)."""
        return self._index

    @property
    def index(self) -> AccessIndex:
        """The index, caught up with the store if it may be stale."""
        if self._monotonic() >= self._next_look:
            self.refresh()
        return self._index

    def check(self, account_id: str, permission: str, school_id: str | None = None) -> Decision:
        """The index's decision, after the version check when it is due."""
        if self._monotonic() >= self._next_look:
            self.refresh()
        return self._index.check(account_id, permission, school_id)

    def refresh(self) -> None:
        """Catch up with every change committed to the store, and with the clock."""
        with self._lock:
            with self._store.unit_of_work() as uow:
                self.catch_up(uow)
            self._index.advance(self._clock.now())
            self._next_look = self._monotonic() + self._staleness

    # -- keeping up ---------------------------------------------------------------------------

    def _build(self) -> AccessIndex:
        with self._lock, self._store.unit_of_work() as uow:
            head = uow.repository(ACCESS_CHANGES).get(HEAD_ID)
            index = AccessIndex.from_unit_of_work(self._catalogue, uow, now=self._clock.now())
            self._version = head.version if head is not None else 0
            self.builds += 1
            self._next_look = self._monotonic() + self._staleness
            return index

    def rebuild(self) -> None:
        """Build the index again from the store (after a failure left it unsure)."""
        with self._lock:
            self._index = self._build()

    def catch_up(self, uow: UnitOfWork) -> None:
        """Apply the changes logged after this index's version, read through *uow*."""
        with self._lock:
            log = uow.repository(ACCESS_CHANGES)
            head = log.get(HEAD_ID)
            newest = head.version if head is not None else 0
            if newest == self._version:
                return
            events: list[AuditEvent] = []
            for version in range(self._version + 1, max(newest, self._version - 1) + 1):
                change = log.get(change_id(version))
                if change is None or newest < self._version:  # pruned, or another store
                    self._index = AccessIndex.from_unit_of_work(
                        self._catalogue, uow, now=self._clock.now()
                    )
                    self._version = newest
                    self.builds += 1
                    return
                events.extend(change.events)
            self._apply(events, _accounts_of(uow, events))
            self._version = newest
            self.catch_ups += 1

    def _apply(self, events: Sequence[AuditEvent], accounts: dict[str, Account]) -> None:
        try:
            self._index.apply(events)
            # Events carry no names or emails; keep the full records in the working set.
            self._index.records.accounts.update(
                (k, v) for k, v in accounts.items() if k in self._index.records.accounts
            )
        except BaseException:
            self._index = self._build()
            raise

    def log(self, uow: UnitOfWork, events: Sequence[AuditEvent]) -> int:
        """Write *events* to the change log as the next version (the caller holds
        :data:`ACCESS_LOCK` and commits); returns the version."""
        log = uow.repository(ACCESS_CHANGES)
        head = log.get(HEAD_ID)
        version = (head.version if head is not None else 0) + 1
        at = max(e.at for e in events)
        log.put(AccessChange(id=HEAD_ID, version=version, at=at))
        log.add(AccessChange(id=change_id(version), version=version, at=at, events=tuple(events)))
        old = version - KEEP_VERSIONS
        if old > 0 and log.get(change_id(old)) is not None:
            log.remove(change_id(old))
        return version

    def committed(
        self,
        version: int,
        events: Sequence[AuditEvent],
        accounts: dict[str, Account],
        *,
        applied: Collection[str] = (),
    ) -> None:
        """A unit of work committed *events* as *version*: bring the index up to it.

        *applied* are the ids of events already in the index (applied as the unit of work
        went, under :meth:`holding`).
        """
        with self._lock:
            if version == self._version + 1:
                self._apply([e for e in events if e.id not in applied], accounts)
                self._version = version
                return
            if applied:  # the index holds events out of order: start again
                self._index = self._build()
                return
        self.refresh()

    @contextmanager
    def holding(self) -> Iterator[AccessIndex]:
        """The index, with no other thread of this process changing it meanwhile."""
        with self._lock:
            yield self._index
