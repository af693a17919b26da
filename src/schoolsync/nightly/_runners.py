"""Running a night without a job engine: every school in this process, or in a local pool of
worker processes. Both run :func:`~schoolsync.nightly.run_school` and retry transient failures
in later rounds, with backoff; the job engine (:mod:`schoolsync.nightly.engine`) runs the same
job on workers across machines."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime

import attrs

from schoolsync.nightly._job import NightlyHost, SchoolJob, load_host, mark_queued, run_school
from schoolsync.nightly._report import NightReport, night_report
from schoolsync.records.nightly import JobStatus, NightlyJob

__all__ = ["JobRetry", "jobs_for", "new_run_id", "run_in_process", "run_pool"]

Progress = Callable[[NightlyJob], None]


@attrs.frozen(kw_only=True)
class JobRetry:
    """How many times a school's job runs after transient failures, and the wait before each
    retry: ``min(wait_max, wait_initial * 2 ** (retry - 1))`` seconds."""

    attempts: int = 3
    wait_initial: float = 30.0
    wait_max: float = 600.0

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1 or self.wait_initial < 0 or self.wait_max < 0:
            raise ValueError("JobRetry needs attempts >= 1 and waits >= 0")

    def wait(self, retry: int) -> float:
        """Seconds before retry number *retry* (1-based)."""
        return float(min(self.wait_max, self.wait_initial * 2 ** (retry - 1)))


def new_run_id(at: datetime) -> str:
    """The id of the night starting at *at* (timezone-aware): ``night-20260302T0200Z``;
    ids sort in time order."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return "night-" + at.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def jobs_for(host: NightlyHost, run_id: str) -> list[SchoolJob]:
    """One job per school of *host* tonight (a school listed twice runs once)."""
    seen: dict[str, SchoolJob] = {}
    for trust_id, school_id in host.schools():
        seen.setdefault(school_id, SchoolJob(run_id=run_id, school_id=school_id, trust_id=trust_id))
    return list(seen.values())


def _rounds(
    jobs: Sequence[SchoolJob],
    run_round: Callable[[Sequence[SchoolJob], bool], Iterable[NightlyJob]],
    retry: JobRetry,
    sleep: Callable[[float], None],
) -> None:
    pending = list(jobs)
    for attempt in range(1, retry.attempts + 1):
        if not pending:
            return
        if attempt > 1:
            sleep(retry.wait(attempt - 1))
        by_id = {j.id: j for j in pending}
        pending = [
            by_id[record.id]
            for record in run_round(pending, attempt == retry.attempts)
            if record.status is JobStatus.RETRYING
        ]


def run_in_process(
    host: NightlyHost,
    jobs: Sequence[SchoolJob],
    *,
    retry: JobRetry | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> NightReport:
    """Run *jobs* one after another in this process (one school: a list of one); returns the
    night's report. Transient failures are retried in later rounds (*retry*)."""
    if not jobs:
        raise ValueError("no schools to sync")
    store = host.store()
    mark_queued(store, jobs, at=host.clock().now())

    def run_round(batch: Sequence[SchoolJob], final: bool) -> Iterable[NightlyJob]:
        for job in batch:
            record = run_school(job, host, final_attempt=final)
            if progress is not None:
                progress(record)
            yield record

    _rounds(jobs, run_round, retry or JobRetry(), sleep)
    return night_report(store, jobs[0].run_id)


_WORKER_HOST: NightlyHost | None = None


def _start_worker(host_path: str) -> None:
    global _WORKER_HOST
    _WORKER_HOST = load_host(host_path)


def _run_in_worker(job: SchoolJob, final: bool) -> NightlyJob:
    assert _WORKER_HOST is not None, "the pool's initializer loads the host"
    return run_school(job, _WORKER_HOST, final_attempt=final)


def run_pool(
    host_path: str,
    jobs: Sequence[SchoolJob],
    *,
    workers: int,
    retry: JobRetry | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> NightReport:
    """Run *jobs* on *workers* local worker processes (started fresh, ``spawn``), each with
    the host loaded from *host_path* (``"package.module:name"``, see
    :func:`~schoolsync.nightly.load_host`); returns the night's report.

    Each school runs in one process at a time; transient failures are retried in later rounds.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if not jobs:
        raise ValueError("no schools to sync")
    host = load_host(host_path)
    store = host.store()
    mark_queued(store, jobs, at=host.clock().now())
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(host_path,)
    ) as pool:

        def run_round(batch: Sequence[SchoolJob], final: bool) -> Iterable[NightlyJob]:
            running: set[Future[NightlyJob]] = {
                pool.submit(_run_in_worker, job, final) for job in batch
            }
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    record = future.result()
                    if progress is not None:
                        progress(record)
                    yield record

        _rounds(jobs, run_round, retry or JobRetry(), sleep)
    return night_report(store, jobs[0].run_id)
