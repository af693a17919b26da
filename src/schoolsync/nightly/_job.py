"""The per-school nightly job, defined once: fetch, plan, guard, apply, queue the messages, all
in one transaction with the school's job record; every runner (in-process, process pool, the
job engine) calls :func:`run_school`."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from schoolsync.errors import (
    BrokerAuthError,
    BrokerError,
    ConcurrentWriteError,
    SchoolsyncError,
    StaleFetchError,
    StorageError,
    SyncError,
    SyncGuardError,
)
from schoolsync.nightly._school import SchoolSync, default_results_port, sync_school
from schoolsync.ports import Clock, IdSource, MisSource, Store, UnitOfWork
from schoolsync.records.nightly import JobStatus, NightlyJob, nightly_job_id
from schoolsync.records.tables import NIGHTLY_JOBS
from schoolsync.sync.connection import MisConnection
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

    # Optional (not part of the protocol's check): ``results(school_id)`` returns the school's
    # :class:`~schoolsync.brokers.results.ResultsPort` for writing assessment results back, or
    # ``None`` to send none. Without it, the job uses the connector's own port
    # (:func:`~schoolsync.nightly.default_results_port`: Assembly, a OneRoster gradebook).


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
    person to check the feed), a stale fetch (*skipped*: another sync committed the school
    meanwhile), a refused plan (a stale feed, a bad connection), credentials
    refused, any other broker refusal (4xx).
    """
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, SyncGuardError):
        return Problem(kind="guard", transient=False, status=JobStatus.SKIPPED, reason=reason)
    if isinstance(exc, StaleFetchError):
        return Problem(kind="stale", transient=False, status=JobStatus.SKIPPED, reason=reason)
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


def _results_port(host: NightlyHost, school_id: str, source: MisSource) -> Any:
    chosen = getattr(host, "results", None)
    if callable(chosen):
        return chosen(school_id)
    return default_results_port(source)


def _with_results(record: NightlyJob, sent: Any) -> NightlyJob:
    if sent is None:
        return record
    return attrs.evolve(
        record,
        results_sent=len(sent.sent),
        results_failed=len(sent.failed) + len(sent.uncertain),
        results_waiting=len(sent.retrying) + len(sent.held),
    )


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

    The job is :func:`~schoolsync.nightly.sync_school` (the same code as
    :meth:`schoolsync.TrustOffice.nightly_sync`): the fetch outside any transaction, then
    the sync, the broker watermark, the welcome messages queued in the outbox and the job's
    record in one transaction holding the school's lock, so a worker killed at any point
    leaves the school as it was or wholly synced, and the job can simply run again; after the
    commit, the school's queued assessment results are sent through the host's results port
    (``host.results(school_id)`` if the host has that method, else the connector's own:
    :func:`~schoolsync.nightly.default_results_port`), and the record counts them. Failures are
    filed by :func:`classify`; a transient one is recorded ``retrying`` unless
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
    read: list[MisConnection] = []
    sent: list[Any] = []

    def connection_of(_uow: UnitOfWork) -> MisConnection:
        found = host.connection(job.school_id)
        read.append(found)
        return found

    def record_done(uow: UnitOfWork, synced: SchoolSync) -> None:
        pupils, records = _pupils_changed(synced.report)
        uow.repository(NIGHTLY_JOBS).put(
            attrs.evolve(
                base,
                status=JobStatus.DONE,
                pupils_changed=pupils,
                records_changed=records,
                finished_at=clock.now(),
                timings=dict(timings),
            )
        )

    try:
        read.append(host.connection(job.school_id))
        if not read[-1].is_active:  # skipped before its feed is asked for (filed below)
            raise SyncError("the MIS connection is not active")
        source = host.source(job.school_id)
        synced = sync_school(
            store,
            job.school_id,
            source,
            connection_of=connection_of,
            at=started,
            trust_id=job.trust_id,
            options=options,
            actor_id=actor_id,
            ids=ids,
            before_commit=record_done,
            results=_results_port(host, job.school_id, source),
            on_results=sent.append,
            timings=timings,
        )
    except Exception as exc:  # filed, recorded and returned: the runner decides on retries
        problem = classify(exc)
        if isinstance(exc, SyncError) and read and not read[-1].is_active:
            connection = read[-1]
            problem = Problem(
                kind="deauthorised",
                transient=False,
                status=JobStatus.SKIPPED,
                reason=f"the MIS connection is {connection.status.value.replace('_', ' ')}",
            )
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
        failed = _with_results(failed, sent[-1] if sent else None)
        try:
            _put(store, failed)
        except (StorageError, ConcurrentWriteError):
            _log.warning("nightly job %s: its failure could not be recorded", job.id)
        return failed
    timings["total"] = time.perf_counter() - tick
    pupils, records = _pupils_changed(synced.report)
    done = attrs.evolve(
        base,
        status=JobStatus.DONE,
        pupils_changed=pupils,
        records_changed=records,
        finished_at=clock.now(),
        timings=timings,
    )
    if synced.results is not None:
        done = _with_results(done, synced.results)
        try:
            _put(store, done)  # the counts of results sent after the sync's commit
        except (StorageError, ConcurrentWriteError):
            _log.warning("nightly job %s: its results could not be counted", job.id)
    return done
