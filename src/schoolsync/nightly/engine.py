"""The nightly sync on procrastinate, a job engine whose queue is PostgreSQL itself (the
``jobs`` extra): no second server, workers on as many machines as share the database.

* :func:`nightly_app` makes the procrastinate :class:`~procrastinate.App` with one task, the
  school's job (:func:`~schoolsync.nightly.run_school`), on the ``nightly`` queue.
* :func:`enqueue_night` queues one job per school. Each job carries the school's *lock*
  (procrastinate runs no two jobs with the same lock at once, whichever machine fetches them)
  and *queueing lock* (a school already waiting in the queue is not queued twice).
* A transient failure (a broker's 429/5xx or lost connection, the store unreachable) raises
  :class:`~schoolsync.errors.NightlyJobError` and procrastinate retries it after the
  :class:`~schoolsync.nightly.JobRetry` backoff; a data problem (the change-size guard, a
  refused plan) ends the job at once. The schools that failed for good are the dead-letter
  list (:func:`~schoolsync.nightly.dead_letters`, ``schoolsync nightly dead-letters``).
* A worker killed mid-job leaves the school as it was (the job's transaction never
  committed); once its heartbeat is stale, :func:`recover_stalled` (a periodic task of the app,
  every minute; or ``schoolsync nightly recover``) puts the job back in the queue. If a later
  job of the same school is already waiting, that one syncs the school and the stalled job is
  recorded as skipped (``superseded``).

Workers: ``schoolsync nightly worker --dsn ... --host package.module:name`` (one per core),
or procrastinate's own CLI on the app that :func:`nightly_app` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from schoolsync.errors import MissingExtraError, NightlyJobError
from schoolsync.nightly._job import (
    NightlyHost,
    SchoolJob,
    load_host,
    mark_queued,
    mark_superseded,
    run_school,
)
from schoolsync.nightly._runners import JobRetry
from schoolsync.records.nightly import JobStatus

if TYPE_CHECKING:
    import procrastinate

__all__ = [
    "NIGHTLY_QUEUE",
    "SCHOOL_TASK",
    "EnqueueReport",
    "enqueue_night",
    "nightly_app",
    "recover_stalled",
    "run_worker",
]

#: The queue the school jobs go to.
NIGHTLY_QUEUE = "nightly"
#: The task name of a school's job.
SCHOOL_TASK = "schoolsync.nightly.school"

_HOSTS: dict[str, NightlyHost] = {}


def _procrastinate() -> Any:
    try:
        import procrastinate
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingExtraError("the nightly job engine (procrastinate)", "jobs") from exc
    return procrastinate


def _host(path: str) -> NightlyHost:
    """The host of *path*, loaded once per worker process."""
    found = _HOSTS.get(path)
    if found is None:
        found = _HOSTS[path] = load_host(path)
    return found


def school_lock(school_id: str) -> str:
    """The procrastinate lock of a school's jobs (one job per school runs at a time)."""
    return f"schoolsync:school:{school_id}"


def _retry_strategy(retry: JobRetry) -> Any:
    procrastinate = _procrastinate()
    base: Any = procrastinate.BaseRetryStrategy

    class _Backoff(base):  # type: ignore[misc]
        """Retry only transient failures, after the JobRetry backoff."""

        def get_retry_decision(self, *, exception: BaseException, job: Any) -> Any:
            if not isinstance(exception, NightlyJobError) or not exception.transient:
                return None
            if job.attempts + 1 >= retry.attempts:
                return None
            return procrastinate.RetryDecision(retry_in={"seconds": retry.wait(job.attempts + 1)})

    return _Backoff()


def nightly_app(
    dsn: str,
    *,
    schema: str | None = None,
    retry: JobRetry | None = None,
    stalled_after: float = 30.0,
    recover_every: str = "* * * * *",
) -> procrastinate.App:
    """The procrastinate app of the nightly sync on PostgreSQL *dsn*.

    Args:
        dsn: the database holding the queue (the store's database will do).
        schema: keep procrastinate's tables in this schema (created by
            :func:`apply_schema`); default: the connection's search path.
        retry: attempts and backoff for transient failures.
        stalled_after: seconds without a worker heartbeat after which its job is stalled.
        recover_every: the cron line of the periodic stalled-job recovery.
    """
    procrastinate = _procrastinate()
    retry = retry or JobRetry()
    kwargs: dict[str, Any] = {}
    if schema is not None:
        kwargs["options"] = f"-c search_path={schema}"
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=dsn, kwargs=kwargs),
    )

    @app.task(  # type: ignore[untyped-decorator]
        name=SCHOOL_TASK,
        queue=NIGHTLY_QUEUE,
        pass_context=True,
        retry=_retry_strategy(retry),
    )
    def school(
        context: Any, *, run_id: str, school_id: str, trust_id: str | None, host: str
    ) -> dict[str, Any]:
        job = SchoolJob(run_id=run_id, school_id=school_id, trust_id=trust_id)
        final = context.job.attempts + 1 >= retry.attempts
        record = run_school(job, _host(host), final_attempt=final)
        if record.status in (JobStatus.RETRYING, JobStatus.FAILED):
            # Retried only if transient and attempts remain; else procrastinate marks the job
            # failed too (the school is in the dead-letter list either way).
            transient = record.status is JobStatus.RETRYING
            raise NightlyJobError(school_id, record.problem, record.reason, transient=transient)
        return {"status": record.status.value, "pupils_changed": record.pupils_changed}

    @app.periodic(cron=recover_every)  # type: ignore[untyped-decorator]
    @app.task(  # type: ignore[untyped-decorator]
        name="schoolsync.nightly.recover_stalled",
        queue=NIGHTLY_QUEUE,
        queueing_lock="schoolsync.nightly.recover_stalled",
    )
    async def recover(timestamp: int) -> int:
        return await _recover_async(app, stalled_after)

    return app  # type: ignore[no-any-return]


def apply_schema(app: procrastinate.App, *, schema: str | None = None) -> None:
    """Create procrastinate's tables (once per database; in *schema* if given)."""
    import psycopg
    from psycopg import sql

    if schema is not None:
        dsn = app.connector._pool_args["conninfo"]  # type: ignore[attr-defined]
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    with app.open():
        app.schema_manager.apply_schema()


@attrs.frozen(kw_only=True)
class EnqueueReport:
    """What :func:`enqueue_night` queued: the schools queued now, and those already waiting
    in the queue (not queued twice)."""

    run_id: str
    queued: tuple[str, ...]
    already_queued: tuple[str, ...]


def enqueue_night(
    app: procrastinate.App, host_path: str, jobs: Sequence[SchoolJob]
) -> EnqueueReport:
    """Queue one job per school of *jobs* (all of one night) for the workers, and record
    them as queued. A school whose job is still waiting in the queue is not queued again.

    *host_path* (``"package.module:name"``) is how each worker loads the host.
    """
    procrastinate = _procrastinate()
    if not jobs:
        raise ValueError("no schools to sync")
    host = _host(host_path)
    mark_queued(host.store(), jobs, at=host.clock().now())
    queued: list[str] = []
    already: list[str] = []
    with app.open():
        task = app.tasks[SCHOOL_TASK]
        for job in jobs:
            try:
                task.configure(
                    lock=school_lock(job.school_id),
                    queueing_lock=f"schoolsync:nightly:{job.school_id}",
                ).defer(**job.to_dict(), host=host_path)
            except procrastinate.exceptions.AlreadyEnqueued:
                already.append(job.school_id)
            else:
                queued.append(job.school_id)
    return EnqueueReport(run_id=jobs[0].run_id, queued=tuple(queued), already_queued=tuple(already))


async def _recover_async(app: procrastinate.App, stalled_after: float) -> int:
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
    count = 0
    procrastinate = _procrastinate()
    for job in stalled:
        if job.task_name != SCHOOL_TASK:
            continue
        try:
            await app.job_manager.retry_job(job)
        except procrastinate.exceptions.UniqueViolation:
            # A later job of the same school already waits (the queueing lock allows one):
            # it syncs the school from the same watermark, so this one ends here.
            await app.job_manager.finish_job(
                job, status=procrastinate.jobs.Status.ABORTED, delete_job=False
            )
            await asyncio.to_thread(_superseded, job.task_kwargs)
        count += 1
    return count


def _superseded(kwargs: dict[str, Any]) -> None:
    host = _host(str(kwargs["host"]))
    job = SchoolJob(
        run_id=str(kwargs["run_id"]),
        school_id=str(kwargs["school_id"]),
        trust_id=kwargs.get("trust_id"),
    )
    mark_superseded(host.store(), job, at=host.clock().now())


def recover_stalled(app: procrastinate.App, *, stalled_after: float = 30.0) -> int:
    """Put back in the queue the school jobs of workers whose heartbeat is older than
    *stalled_after* seconds (killed, or cut off); returns how many. Their schools are as they
    were before the job began: its transaction never committed."""

    async def go() -> int:
        async with app.open_async():
            return await _recover_async(app, stalled_after)

    return asyncio.run(go())


def run_worker(
    app: procrastinate.App,
    *,
    concurrency: int = 1,
    heartbeat: float = 10.0,
    poll: float = 5.0,
    wait: bool = True,
    name: str | None = None,
) -> None:
    """Run a worker on the nightly queue in this process until it is stopped (or, with
    *wait* false, until the queue is empty). One worker per core: a school's job is CPU-bound
    (matching, planning) once its data has arrived. *poll* is the longest wait before looking
    for jobs that became ready without a notification (a retry's backoff ended, a school's lock
    was released)."""
    app.run_worker(
        queues=[NIGHTLY_QUEUE],
        concurrency=concurrency,
        wait=wait,
        name=name,
        update_heartbeat_interval=heartbeat,
        fetch_job_polling_interval=poll,
        stalled_worker_timeout=max(heartbeat * 3, 1.0),
        install_signal_handlers=True,
    )
