"""The nightly sync of many schools: one job per school, defined once, run three ways.

* :func:`run_school` is the job: :func:`sync_school` (fetch the school's feed, a broker delta
  from the stored watermark or a file, outside any transaction; then plan, check the
  change-size guard, apply, queue the welcome messages in the outbox and record how it ended,
  all in one transaction holding the school's lock; then send the school's queued assessment
  results), the same code :meth:`schoolsync.TrustOffice.nightly_sync` runs for one school.
* :func:`run_in_process` runs a night here; :func:`run_pool` on local worker processes;
  :mod:`schoolsync.nightly.engine` on procrastinate workers across machines sharing one
  PostgreSQL (the ``jobs`` extra).
* :func:`night_report` reads a night per trust and in total (done, skipped, failed with the
  reason, pupils changed), as a table or JSON, while it runs too; :func:`dead_letters` lists
  the schools that failed for good; :func:`prune_nights` deletes old nights' records.
* :class:`PostgresRateLimits` keeps a broker's per-credential rate limit in PostgreSQL, so it
  holds across every worker process and machine.

A host describes its world once as a :class:`NightlyHost` (store, schools, connections,
feeds, clock), which every worker process loads by its import path. See docs/scale.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schoolsync.nightly._job import NightlyHost, Problem, SchoolJob, classify, load_host, run_school
from schoolsync.nightly._report import (
    NightReport,
    TrustLine,
    dead_letters,
    night_report,
    prune_nights,
    run_ids,
)
from schoolsync.nightly._runners import JobRetry, jobs_for, new_run_id, run_in_process, run_pool
from schoolsync.nightly._school import (
    SchoolSync,
    default_results_port,
    send_school_results,
    sync_school,
)
from schoolsync.records.nightly import JobStatus, NightlyJob

if TYPE_CHECKING:
    from schoolsync.nightly._ratelimit import PostgresRateLimiter, PostgresRateLimits

__all__ = [
    "JobRetry",
    "JobStatus",
    "NightReport",
    "NightlyHost",
    "NightlyJob",
    "PostgresRateLimiter",
    "PostgresRateLimits",
    "Problem",
    "SchoolJob",
    "SchoolSync",
    "TrustLine",
    "classify",
    "dead_letters",
    "default_results_port",
    "jobs_for",
    "load_host",
    "new_run_id",
    "night_report",
    "prune_nights",
    "run_ids",
    "run_in_process",
    "run_pool",
    "run_school",
    "send_school_results",
    "sync_school",
]


def __getattr__(name: str) -> Any:
    # The shared rate limit needs httpx (the brokers extra) and psycopg: loaded on first use.
    if name in ("PostgresRateLimiter", "PostgresRateLimits"):
        from schoolsync.nightly import _ratelimit

        return getattr(_ratelimit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
