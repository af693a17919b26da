"""One school's nightly sync, the one piece of code behind both the nightly job
(:func:`~schoolsync.nightly.run_school`) and :meth:`schoolsync.TrustOffice.nightly_sync`.

The order of :func:`sync_school`:

1. **Read** (a short unit of work, no lock): the school's connection (a deauthorised one stops
   here, before any request) and, for a broker, its stored watermark.
2. **Fetch**, outside any transaction: the broker's delta from that watermark (or everything),
   or the file. No database connection idles in a transaction while a broker answers.
3. **One unit of work** holding the school's lock: the connection read again (deauthorised
   meanwhile: refused, nothing written), the watermark read again (moved meanwhile: another
   sync committed this school after our fetch began, so the fetch is stale and is refused with
   nothing written; that sync's watermark already covers everything, so nothing is lost and the
   next delta starts from it), the school's records loaded, the plan, the change-size guard,
   the writes, the soft deletes the broker names, the welcome messages in the outbox, the new
   watermark and whatever the caller adds (the job's record): one commit, or nothing.
4. **Results**: after the commit, the school's queued assessment results are sent through its
   :class:`~schoolsync.brokers.results.ResultsPort` (:func:`~schoolsync.brokers.results.send_results`:
   only what the connection shares, never posted twice, a refusal retried on later nights).
   They are also sent when the guard refused the roster sync (a teacher's marks do not depend
   on tonight's roster feed, and go only to pupils already linked), and not when the sync
   failed (the broker is in trouble: they wait, queued, for the next run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Self, cast

import attrs

from schoolsync.errors import SchoolsyncError, StaleFetchError, SyncGuardError
from schoolsync.outbox import OutboxNotifier
from schoolsync.ports import ForwardingUnitOfWork, IdSource, MisSource, Notifier, Store, UnitOfWork
from schoolsync.sync.connection import MisConnection, require_active
from schoolsync.sync.incremental import (
    delta_of,
    incremental_plan,
    load_for_delta,
    read_snapshot,
)
from schoolsync.sync.plans import PlanOptions
from schoolsync.sync.report import SyncReport

__all__ = ["SchoolSync", "default_results_port", "send_school_results", "sync_school"]

_log = logging.getLogger("schoolsync.nightly")

#: The connection of a school as stored now, read through the given unit of work.
ConnectionOf = Callable[[UnitOfWork], MisConnection]


@attrs.frozen(kw_only=True)
class SchoolSync:
    """What one school's nightly sync did: the sync report, the broker's part (``None`` for a
    file), and the results sent after the commit (``None`` when there was no results port)."""

    report: SyncReport
    broker: Any = None
    results: Any = None


class _Deferred(ForwardingUnitOfWork):
    """The sync's unit of work as ``apply`` sees it: its commit is deferred to the end of
    :func:`sync_school` (so the writes, the messages, the soft deletes, the watermark and the
    caller's record commit together) and its ``with`` block is :func:`sync_school`'s own;
    rollback and everything else are the real unit of work's."""

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
        """Deferred: :func:`sync_school` commits once, at its end."""


def _is_broker(source: object) -> bool:
    return hasattr(source, "fetch") and hasattr(source, "provider")


def _timed(timings: dict[str, float] | None, phase: str, started: float) -> None:
    if timings is not None:
        timings[phase] = timings.get(phase, 0.0) + (time.perf_counter() - started)


def default_results_port(source: object) -> Any:
    """The results port of a school's broker connector: Assembly's ``POST /results`` for an
    Assembly school, the OneRoster 1.2 gradebook for a OneRoster school whose broker was given
    a ``gradebook_url``; ``None`` for anything else (a file, Wonde, Xporter)."""
    if not _is_broker(source):
        return None
    from schoolsync.brokers.assembly import AssemblySchool
    from schoolsync.brokers.oneroster import OneRosterSchool
    from schoolsync.brokers.results import AssemblyResults, OneRosterGradebook

    if isinstance(source, AssemblySchool):
        return AssemblyResults(source)
    if isinstance(source, OneRosterSchool) and source.broker.gradebook_url is not None:
        return OneRosterGradebook(source.broker)
    return None


def sync_school(
    store: Store,
    school_id: str,
    source: MisSource,
    *,
    connection_of: ConnectionOf,
    at: datetime,
    trust_id: str | None = None,
    since: datetime | None = None,
    full: bool = False,
    options: PlanOptions | None = None,
    actor_id: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    retention: Any = None,
    ids: IdSource | None = None,
    notifier: Notifier | None = None,
    before_commit: Callable[[UnitOfWork, SchoolSync], None] | None = None,
    results: Any = None,
    on_results: Callable[[Any], None] | None = None,
    timings: dict[str, float] | None = None,
) -> SchoolSync:
    """Sync one school from *source* (a broker connector or any
    :class:`~schoolsync.ports.MisSource`), in the order the module describes.

    Args:
        connection_of: reads the school's connection through a unit of work (called before
            the fetch and again under the school's lock).
        since: for a file source, the previous sync's time (a broker uses its watermark).
        full: for a broker, ignore the watermark and fetch everything.
        notifier: receives the welcome messages (default: the outbox, in the sync's unit of
            work).
        before_commit: writes of the caller's that commit with the sync (not on a dry run).
        results: the school's results port (see :func:`default_results_port`); ``None``
            sends nothing.
        on_results: receives the :class:`~schoolsync.brokers.results.SendReport`, also when
            the guard refused the sync.
        timings: seconds per phase are added here (``fetch``, ``load``, ``plan``, ``apply``,
            ``commit``, ``results``).

    Raises:
        SyncError: the connection is not authorised (before the fetch, or when read again), or
            the fetch is stale (:class:`StaleFetchError`), or the feed is older than *since*.
        SyncGuardError: the change-size guard refused the sync (results are still sent).
        BrokerError: the fetch failed (nothing changed).
    """
    from schoolsync.sync.state import SchoolRecords

    broker = _is_broker(source)
    with store.unit_of_work() as uow:
        connection = connection_of(uow)
        require_active(connection, school_id)
        mark = _watermark(uow, school_id, source) if broker else None
    started = time.perf_counter()
    fetched: Any = None
    if broker:
        fetched = cast(Any, source).fetch(None if full else mark)
        snapshot = read_snapshot(fetched, school_id)
        delta = delta_of(fetched)
        since = mark.taken_at if mark is not None else None
    else:
        snapshot = read_snapshot(source, school_id)
        delta = delta_of(source)
    _timed(timings, "fetch", started)
    try:
        synced = _in_one_unit(
            store,
            school_id,
            connection_of=connection_of,
            load=lambda uow, sid: (
                load_for_delta(uow, sid, snapshot, delta) or SchoolRecords.load(uow, sid)
            ),
            plan=lambda current: incremental_plan(
                snapshot, current, at=at, since=since, options=options, delta=delta
            ),
            fetched=fetched,
            mark=mark,
            source=source,
            at=at,
            trust_id=trust_id,
            actor_id=actor_id,
            force=force,
            dry_run=dry_run,
            retention=retention,
            ids=ids,
            notifier=notifier,
            before_commit=before_commit,
            timings=timings,
        )
    except SyncGuardError:
        if results is not None and not dry_run:
            sent = send_school_results(store, school_id, results, connection_of, at=at)
            if on_results is not None and sent is not None:
                on_results(sent)
        raise
    if results is not None and not dry_run:
        started = time.perf_counter()
        sent = send_school_results(store, school_id, results, connection_of, at=at)
        _timed(timings, "results", started)
        if on_results is not None and sent is not None:
            on_results(sent)
        synced = attrs.evolve(synced, results=sent)
    return synced


def _watermark(uow: UnitOfWork, school_id: str, source: object) -> Any:
    from schoolsync.brokers.sync import load_watermark

    return load_watermark(uow, school_id, str(getattr(source, "provider", "")))


def _in_one_unit(
    store: Store,
    school_id: str,
    *,
    connection_of: ConnectionOf,
    load: Callable[[UnitOfWork, str], Any],
    plan: Callable[[Any], Any],
    fetched: Any,
    mark: Any,
    source: object,
    at: datetime,
    trust_id: str | None,
    actor_id: str | None,
    force: bool,
    dry_run: bool,
    retention: Any,
    ids: IdSource | None,
    notifier: Notifier | None,
    before_commit: Callable[[UnitOfWork, SchoolSync], None] | None,
    timings: dict[str, float] | None,
) -> SchoolSync:
    from schoolsync.sync.applying import apply, report_for

    with store.unit_of_work() as uow:
        uow.lock_school(school_id)
        connection = connection_of(uow)
        require_active(connection, school_id)
        if fetched is not None and _watermark(uow, school_id, source) != mark:
            raise StaleFetchError(
                f"another sync committed school {school_id!r} after this one's fetch began: "
                "the fetch is stale and nothing was written (the next delta starts from that "
                "sync's watermark, so nothing is lost)"
            )
        started = time.perf_counter()
        current = load(uow, school_id)
        _timed(timings, "load", started)
        started = time.perf_counter()
        sync_plan = plan(current)
        _timed(timings, "plan", started)
        if dry_run:
            return SchoolSync(report=report_for(sync_plan, at=at, committed=False))
        started = time.perf_counter()
        unit = cast(UnitOfWork, _Deferred(uow))
        report = apply(
            sync_plan,
            unit,
            connection=connection,
            at=at,
            notifier=notifier
            or OutboxNotifier(uow=unit, at=at, ids=ids, school_id=school_id, trust_id=trust_id),
            actor_id=actor_id,
            force=force,
            ids=ids,
        )
        synced = SchoolSync(report=report)
        if fetched is not None:
            synced = attrs.evolve(
                synced,
                broker=_finish_broker(uow, school_id, fetched, report, at, retention, actor_id),
            )
        if before_commit is not None:
            before_commit(uow, synced)
        _timed(timings, "apply", started)
        started = time.perf_counter()
        uow.commit()
        _timed(timings, "commit", started)
        return synced


def _finish_broker(
    uow: UnitOfWork,
    school_id: str,
    fetched: Any,
    report: SyncReport,
    at: datetime,
    retention: Any,
    actor_id: str | None,
) -> Any:
    """The soft deletes the broker names and the new watermark, in the sync's unit of work."""
    from schoolsync.brokers.sync import BrokerSyncReport, finish_fetch

    deleted = finish_fetch(uow, school_id, fetched, at=at, retention=retention, actor_id=actor_id)
    return BrokerSyncReport.of(fetched, report, deleted)


def send_school_results(
    store: Store, school_id: str, port: Any, connection_of: ConnectionOf, *, at: datetime
) -> Any:
    """Send the school's queued results through *port*
    (:func:`~schoolsync.brokers.results.send_results`) with its connection as stored now.

    Results a sender left *sending* (its process died between marking and recording the
    post) are settled as *uncertain* first, for a person to check: never posted again. A
    failure of the sending itself (the store, a result changed meanwhile) is logged and
    returns ``None``: it never fails the school's sync, and what is still queued goes on a
    later run.
    """
    from schoolsync.brokers.results import send_results, settle_abandoned

    try:
        with store.unit_of_work() as uow:
            connection = connection_of(uow)
        abandoned = settle_abandoned(store, school_id)
        sent = send_results(store, port, connection, at=at)
    except SchoolsyncError as exc:
        _log.warning("results of school %s were not sent: %s", school_id, type(exc).__name__)
        return None
    return attrs.evolve(sent, uncertain=(*abandoned, *sent.uncertain))
