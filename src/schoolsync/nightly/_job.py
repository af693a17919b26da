"""The per-school nightly job, defined once: fetch, plan, guard, apply, queue the messages, all
in one transaction with the school's job record; every runner (in-process, process pool, the
job engine) calls :func:`run_school`."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, cast, runtime_checkable

import attrs

from schoolsync.errors import (
    BrokerAuthError,
    BrokerError,
    ConcurrentWriteError,
    SchoolsyncError,
    StorageError,
    SyncError,
    SyncGuardError,
)
from schoolsync.outbox import OutboxNotifier
from schoolsync.ports import Clock, IdSource, MisSource, Store, UnitOfWork
from schoolsync.records.nightly import JobStatus, NightlyJob, nightly_job_id
from schoolsync.records.tables import NIGHTLY_JOBS
from schoolsync.sync.connection import MisConnection
from schoolsync.sync.incremental import incremental_sync
from schoolsync.sync.plans import PlanOptions
from schoolsync.sync.records import RecordKind
from schoolsync.sync.report import WRITING_OUTCOMES, SyncReport

__all__ = [
    "NightlyHost",
    "SchoolJob",
    "classify",
    "load_host",
    "run_school",
]

_log = logging.getLogger("schoolsync.nightly")


@attrs.frozen(kw_only=True)
class SchoolJob:
    """One school to sync in night *run_id* (plain strings: it crosses process boundaries and
    is stored as a job engine's arguments)."""

    run_id: str
    school_id: str
    trust_id: str | None = None

    @property
    def id(self) -> str:
        """The id of the school's :class:`~schoolsync.records.nightly.NightlyJob` record."""
        return nightly_job_id(self.run_id, self.school_id)

    def to_dict(self) -> dict[str, str | None]:
        """The job as JSON-able keyword arguments."""
        return {"run_id": self.run_id, "school_id": self.school_id, "trust_id": self.trust_id}


@runtime_checkable
class NightlyHost(Protocol):
    """What a host gives the nightly sync, in every process that runs jobs.

    A worker process builds its host once from an import path (:func:`load_host`), so the
    host holds what cannot cross processes: the store's connections, the broker clients and
    their credentials (each broker given a shared :class:`~schoolsync.brokers.RateLimits`, e.g.
    :class:`schoolsync.nightly.PostgresRateLimits` across machines).
    """

    def store(self) -> Store:
        """The store the schools sync into (one per process, reused by every job)."""
        ...

    def schools(self) -> Iterable[tuple[str | None, str]]:
        """Tonight's schools as ``(trust_id, school_id)`` pairs (``None``: no trust)."""
        ...

    def connection(self, school_id: str) -> MisConnection:
        """The school's MIS connection (a deauthorised one is skipped, not synced)."""
        ...

    def source(self, school_id: str) -> MisSource:
        """The school's feed: a :class:`~schoolsync.brokers.BrokerSchool` (delta from the
        stored watermark) or any other :class:`~schoolsync.ports.MisSource` (a file)."""
        ...

    def clock(self) -> Clock:
        """The clock that stamps the sync (``SystemClock()`` in production)."""
        ...


def load_host(path: str) -> NightlyHost:
    """The host named by *path*, ``"package.module:name"``: a :class:`NightlyHost`, or a
    callable returning one (called with no arguments).

    Raises:
        ValueError: *path* is not ``module:name``, or names nothing that makes a host.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"a host is named as 'package.module:name', not {path!r}")
    try:
        found: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load the nightly host {path!r}: {exc}") from exc
    if isinstance(found, type) or (callable(found) and not isinstance(found, NightlyHost)):
        found = found()  # a class or factory
    host = found
    if not isinstance(host, NightlyHost):
        raise ValueError(f"{path!r} is not a NightlyHost (store, schools, connection, source)")
    return host


@attrs.frozen(kw_only=True)
class Problem:
    """How a failure is filed: its kind, whether a retry may cure it, the job's status."""

    kind: str
    transient: bool
    status: JobStatus
    reason: str


def classify(exc: BaseException) -> Problem:
    """File a failure of a school's job.

    Transient (retried with backoff): a broker that gave up on 429s, 5xx or a lost connection,
    or a page that moved during the read; the store unreachable or the school locked by another
    writer. Data problems (never retried): the change-size guard (the school is *skipped* for a
    person to check the feed), a refused plan (a stale feed, a bad connection), credentials
    refused, any other broker refusal (4xx).
    """
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, SyncGuardError):
        return Problem(kind="guard", transient=False, status=JobStatus.SKIPPED, reason=reason)
    if isinstance(exc, BrokerAuthError):
        return Problem(kind="broker_auth", transient=False, status=JobStatus.FAILED, reason=reason)
    if isinstance(exc, BrokerError):
        refused = exc.reason.startswith("HTTP 4") or exc.maybe_applied
        return Problem(kind="broker", transient=not refused, status=JobStatus.FAILED, reason=reason)
    if isinstance(exc, ConcurrentWriteError | StorageError):
        return Problem(kind="storage", transient=True, status=JobStatus.FAILED, reason=reason)
    if isinstance(exc, SyncError):
        return Problem(kind="refused", transient=False, status=JobStatus.FAILED, reason=reason)
    if isinstance(exc, SchoolsyncError):
        return Problem(kind="error", transient=False, status=JobStatus.FAILED, reason=reason)
    # Not ours (a bug, a driver error that escaped): the type only, its text may hold data.
    return Problem(
        kind="error", transient=False, status=JobStatus.FAILED, reason=type(exc).__name__
    )


class _Deferred:
    """The job's one unit of work as the sync functions see it: ``commit`` is deferred to the
    end of the job (so the sync, the watermark, the queued messages and the job record commit
    together), ``rollback`` is real; everything else is the real unit of work's."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def commit(self) -> None:
        """Deferred: the job commits once, at its end."""

    def rollback(self) -> None:
        """Roll the whole job back."""
        self._uow.rollback()


class _OneTransaction:
    """A :class:`~schoolsync.ports.Store` whose every unit of work is the job's one
    transaction, opened on first use and committed by :meth:`commit`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._uow: UnitOfWork | None = None

    def unit_of_work(self) -> UnitOfWork:
        return cast(UnitOfWork, _Deferred(self.uow))

    @property
    def uow(self) -> UnitOfWork:
        """The real unit of work (opened on first use)."""
        if self._uow is None:
            self._uow = self._store.unit_of_work().__enter__()
        return self._uow

    def commit(self) -> None:
        """Commit everything the job wrote."""
        self.uow.commit()

    def close(self) -> None:
        """End the transaction (rolled back unless committed)."""
        uow, self._uow = self._uow, None
        if uow is not None:
            uow.__exit__(None, None, None)


class _TimedSource:
    """A broker school whose fetches are timed (the job's ``fetch`` phase)."""

    def __init__(self, source: Any, timings: dict[str, float]) -> None:
        self._source = source
        self._timings = timings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def fetch(self, since: Any = None) -> Any:
        started = time.perf_counter()
        try:
            return self._source.fetch(since)
        finally:
            self._timings["fetch"] = self._timings.get("fetch", 0.0) + (
                time.perf_counter() - started
            )


def _pupils_changed(report: SyncReport) -> tuple[int, int]:
    writes = [e for e in report.entries if e.outcome in WRITING_OUTCOMES]
    return sum(1 for e in writes if e.kind is RecordKind.PUPIL), len(writes)


def _previous(store: Store, job: SchoolJob) -> NightlyJob | None:
    with store.unit_of_work() as uow:
        return uow.repository(NIGHTLY_JOBS).get(job.id)


def _put(store: Store, record: NightlyJob) -> None:
    with store.unit_of_work() as uow:
        uow.repository(NIGHTLY_JOBS).put(record)
        uow.commit()


def mark_queued(store: Store, jobs: Iterable[SchoolJob], *, at: datetime) -> None:
    """Record *jobs* as queued (a job already recorded keeps its record)."""
    with store.unit_of_work() as uow:
        repo = uow.repository(NIGHTLY_JOBS)
        fresh = [
            NightlyJob(
                id=j.id, run_id=j.run_id, school_id=j.school_id, trust_id=j.trust_id, queued_at=at
            )
            for j in jobs
            if repo.get(j.id) is None
        ]
        repo.put_many(fresh)
        uow.commit()


def mark_superseded(store: Store, job: SchoolJob, *, at: datetime) -> None:
    """Record that *job* stopped with its worker and a later job of the school replaces it
    (skipped, ``superseded``): nothing of it committed."""
    with store.unit_of_work() as uow:
        repo = uow.repository(NIGHTLY_JOBS)
        found = repo.get(job.id) or NightlyJob(
            id=job.id, run_id=job.run_id, school_id=job.school_id, trust_id=job.trust_id
        )
        if found.status.final:
            return
        repo.put(
            attrs.evolve(
                found,
                status=JobStatus.SKIPPED,
                problem="superseded",
                reason="its worker stopped before the commit (nothing changed); the school's "
                "next queued job syncs it",
                finished_at=at,
            )
        )
        uow.commit()


def run_school(
    job: SchoolJob,
    host: NightlyHost,
    *,
    final_attempt: bool = True,
    options: PlanOptions | None = None,
    ids: IdSource | None = None,
    actor_id: str | None = None,
    extra: Mapping[str, float] | None = None,
) -> NightlyJob:
    """Run one school's nightly sync and record how it ended; returns that record.

    The sync, the broker watermark, the welcome messages queued in the outbox and the job's
    record commit in one transaction holding the school's lock: a worker killed at any point
    leaves the school as it was or wholly synced, and the job can simply run again. Failures
    are filed by :func:`classify`; a transient one is recorded ``retrying`` unless
    *final_attempt* (then ``failed``: the dead-letter list). Never raises for a failure of the
    school's sync; the caller decides on retries from the returned record's ``transient``.
    """
    clock = host.clock()
    started = clock.now()
    base = NightlyJob(
        id=job.id,
        run_id=job.run_id,
        school_id=job.school_id,
        trust_id=job.trust_id,
        status=JobStatus.RUNNING,
        attempts=1,
        queued_at=started,
        started_at=started,
    )
    try:
        store = host.store()
        before = _previous(store, job)
        if before is not None:
            base = attrs.evolve(
                base, attempts=before.attempts + 1, queued_at=before.queued_at or started
            )
        _put(store, base)
    except (StorageError, ConcurrentWriteError) as exc:
        # The store is unreachable: nothing can be recorded; the caller retries the job.
        problem = classify(exc)
        status = JobStatus.FAILED if final_attempt else JobStatus.RETRYING
        _log.warning("nightly job %s: the store could not be used (%s)", job.id, problem.reason)
        return attrs.evolve(
            base,
            status=status,
            problem=problem.kind,
            reason=problem.reason,
            transient=True,
            finished_at=clock.now(),
        )
    timings: dict[str, float] = dict(extra or {})
    tick = time.perf_counter()
    try:
        connection = host.connection(job.school_id)
        if not connection.is_active:
            reason = f"the MIS connection is {connection.status.value.replace('_', ' ')}"
            done = attrs.evolve(
                base,
                status=JobStatus.SKIPPED,
                problem="deauthorised",
                reason=reason,
                finished_at=clock.now(),
            )
            _put(store, done)
            return done
        source = host.source(job.school_id)
        return _sync(
            job, base, clock, store, source, connection, started, timings, options, ids, actor_id
        )
    except Exception as exc:  # filed, recorded and returned: the runner decides on retries
        problem = classify(exc)
        status = problem.status
        if problem.transient and not final_attempt:
            status = JobStatus.RETRYING
        _log.info("nightly job %s: %s (%s)", job.id, problem.kind, status.value)
        timings["total"] = time.perf_counter() - tick
        failed = attrs.evolve(
            base,
            status=status,
            problem=problem.kind,
            reason=problem.reason,
            transient=problem.transient,
            finished_at=clock.now(),
            timings=timings,
        )
        try:
            _put(store, failed)
        except (StorageError, ConcurrentWriteError):
            _log.warning("nightly job %s: its failure could not be recorded", job.id)
        return failed


def _sync(
    job: SchoolJob,
    base: NightlyJob,
    clock: Clock,
    store: Store,
    source: MisSource,
    connection: MisConnection,
    at: datetime,
    timings: dict[str, float],
    options: PlanOptions | None,
    ids: IdSource | None,
    actor_id: str | None,
) -> NightlyJob:
    from schoolsync.brokers._school import BrokerSchool  # needs httpx only for broker schools

    tick = time.perf_counter()
    tx = _OneTransaction(store)
    try:
        notifier = OutboxNotifier(
            uow=cast(UnitOfWork, _Deferred(tx.uow)),
            at=at,
            ids=ids,
            school_id=job.school_id,
            trust_id=job.trust_id,
        )
        run: dict[str, Any] = {
            "school_id": job.school_id,
            "connection": connection,
            "at": at,
            "notifier": notifier,
            "options": options,
            "actor_id": actor_id,
        }
        report: SyncReport
        if isinstance(source, BrokerSchool):
            from schoolsync.brokers.sync import nightly_sync

            timed = cast(BrokerSchool, _TimedSource(source, timings))
            report = nightly_sync(timed, cast(Store, tx), **run).report
        else:
            report = incremental_sync(source, None, cast(Store, tx), ids=ids, **run)
        timings["sync"] = time.perf_counter() - tick - timings.get("fetch", 0.0)
        pupils, records = _pupils_changed(report)
        done = attrs.evolve(
            base,
            status=JobStatus.DONE,
            pupils_changed=pupils,
            records_changed=records,
            finished_at=clock.now(),
            timings=dict(timings),
        )
        tx.uow.repository(NIGHTLY_JOBS).put(done)
        committing = time.perf_counter()
        tx.commit()
        timings["commit"] = time.perf_counter() - committing
        timings["total"] = time.perf_counter() - tick
        return attrs.evolve(done, timings=timings)
    finally:
        tx.close()
