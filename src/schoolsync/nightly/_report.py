"""The night's report: per trust and for the whole night, schools done, skipped (guard,
deauthorised, stale), failed with the reason, pupils changed, assessment results written back
(sent, failed, waiting for a later night); as a table, as JSON, and as progress
while the night runs. Read from the job records, so any process (the CLI, a dashboard) can
report on workers running elsewhere."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from schoolsync.ports import Store, UnitOfWork
from schoolsync.records.nightly import JobStatus, NightlyJob
from schoolsync.records.tables import NIGHTLY_JOBS
from schoolsync.sync.state import committed_unit, open_unit
from schoolsync.tables import Tabular

__all__ = [
    "NightReport",
    "TrustLine",
    "dead_letters",
    "night_report",
    "prune_nights",
    "run_ids",
]

_NO_TRUST = "(no trust)"


@attrs.frozen(kw_only=True)
class TrustLine:
    """One trust's line of the night (``trust_id`` ``None`` for the whole night)."""

    trust_id: str | None
    schools: int
    done: int
    skipped: int
    failed: int
    pending: int
    pupils_changed: int
    results_sent: int = 0
    results_failed: int = 0
    results_waiting: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The line as a JSON-able mapping."""
        return attrs.asdict(self)


def _line(trust_id: str | None, jobs: list[NightlyJob]) -> TrustLine:
    counts = Counter(j.status for j in jobs)
    final = counts[JobStatus.DONE] + counts[JobStatus.SKIPPED] + counts[JobStatus.FAILED]
    return TrustLine(
        trust_id=trust_id,
        schools=len(jobs),
        done=counts[JobStatus.DONE],
        skipped=counts[JobStatus.SKIPPED],
        failed=counts[JobStatus.FAILED],
        pending=len(jobs) - final,
        pupils_changed=sum(j.pupils_changed for j in jobs if j.status is JobStatus.DONE),
        results_sent=sum(j.results_sent for j in jobs),
        results_failed=sum(j.results_failed for j in jobs),
        results_waiting=sum(j.results_waiting for j in jobs),
    )


@attrs.frozen(kw_only=True)
class NightReport(Tabular):
    """One night's jobs, reported per trust and in total.

    The table (:meth:`to_rows`) has a line per trust and a last line for the night;
    :meth:`problems` lists each skipped or failed school with its reason; :meth:`to_json` has
    both. While the night runs, :attr:`finished` is false and :meth:`progress` says how far it
    has got.
    """

    #: The table's columns in order (the keys of each :meth:`to_rows` row): ``trust_id``,
    #: then the counts of a :class:`TrustLine`.
    COLUMNS: ClassVar[tuple[str, ...]] = tuple(f.name for f in attrs.fields(TrustLine))

    run_id: str
    jobs: tuple[NightlyJob, ...]

    @property
    def total(self) -> TrustLine:
        """The whole night's line."""
        return _line(None, list(self.jobs))

    def trusts(self) -> list[TrustLine]:
        """One line per trust, by trust id (schools without a trust last)."""
        groups: dict[str | None, list[NightlyJob]] = {}
        for job in self.jobs:
            groups.setdefault(job.trust_id, []).append(job)
        order = sorted(groups, key=lambda t: (t is None, t or ""))
        return [_line(t, groups[t]) for t in order]

    def of(self, status: JobStatus) -> list[NightlyJob]:
        """The jobs with *status*, by school id."""
        return sorted((j for j in self.jobs if j.status is status), key=lambda j: j.school_id)

    def problems(self) -> list[NightlyJob]:
        """The skipped and failed schools (and those waiting to retry), by school id."""
        troubled = (JobStatus.SKIPPED, JobStatus.FAILED, JobStatus.RETRYING)
        return sorted((j for j in self.jobs if j.status in troubled), key=lambda j: j.school_id)

    @property
    def finished(self) -> bool:
        """True when every school's job has ended (done, skipped or failed)."""
        return all(j.status.final for j in self.jobs)

    def progress(self) -> str:
        """One line: how many schools have ended, of how many, and how."""
        t = self.total
        counts = Counter(j.status for j in self.jobs)
        running = counts[JobStatus.RUNNING]
        waiting = counts[JobStatus.QUEUED] + counts[JobStatus.RETRYING]
        return (
            f"night {self.run_id}: {t.schools - t.pending:,} of {t.schools:,} schools finished "
            f"(done {t.done:,}, skipped {t.skipped:,}, failed {t.failed:,}); "
            f"{running:,} running, {waiting:,} waiting; {t.pupils_changed:,} pupils changed"
            + _results_said(t)
        )

    def to_rows(self) -> list[dict[str, Any]]:
        """A line per trust (``(no trust)`` for schools outside one), then ``TOTAL``."""
        rows = []
        for line in self.trusts():
            row = line.to_dict()
            row["trust_id"] = line.trust_id or _NO_TRUST
            rows.append(row)
        total = self.total.to_dict()
        total["trust_id"] = "TOTAL"
        return [*rows, total]

    def table_caption(self) -> str | None:
        return self.progress()

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-able values: totals, trusts and problems."""
        return {
            "run_id": self.run_id,
            "finished": self.finished,
            "total": self.total.to_dict(),
            "trusts": [line.to_dict() for line in self.trusts()],
            "results": [
                {
                    "school_id": j.school_id,
                    "trust_id": j.trust_id,
                    "sent": j.results_sent,
                    "failed": j.results_failed,
                    "waiting": j.results_waiting,
                }
                for j in self.jobs
                if j.results_sent or j.results_failed or j.results_waiting
            ],
            "problems": [
                {
                    "school_id": j.school_id,
                    "trust_id": j.trust_id,
                    "status": j.status.value,
                    "problem": j.problem,
                    "reason": j.reason,
                    "attempts": j.attempts,
                }
                for j in self.problems()
            ],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _results_said(line: TrustLine) -> str:
    if not (line.results_sent or line.results_failed or line.results_waiting):
        return ""
    sent = f"{line.results_sent:,} result{'s' if line.results_sent != 1 else ''} sent"
    return f"; {sent}, {line.results_failed:,} failed, {line.results_waiting:,} waiting"


def _jobs(target: Store | UnitOfWork) -> list[NightlyJob]:
    with open_unit(target) as uow:
        return uow.repository(NIGHTLY_JOBS).list()


def run_ids(target: Store | UnitOfWork) -> list[str]:
    """The nights recorded in the store, newest first (ids sort by time when made by
    :func:`~schoolsync.nightly.new_run_id`)."""
    return sorted({j.run_id for j in _jobs(target)}, reverse=True)


def night_report(target: Store | UnitOfWork, run_id: str | None = None) -> NightReport:
    """The report of night *run_id* (default: the newest recorded)."""
    jobs = _jobs(target)
    if run_id is None:
        run_id = max((j.run_id for j in jobs), default="")
    return NightReport(run_id=run_id, jobs=_of_run(jobs, run_id))


def _of_run(jobs: Iterable[NightlyJob], run_id: str) -> tuple[NightlyJob, ...]:
    return tuple(sorted((j for j in jobs if j.run_id == run_id), key=lambda j: j.school_id))


def dead_letters(target: Store | UnitOfWork, run_id: str | None = None) -> list[NightlyJob]:
    """The schools whose job failed for good (after its retries, or at once for a data
    problem), newest night first: the list a person works through."""
    jobs = [j for j in _jobs(target) if j.status is JobStatus.FAILED]
    if run_id is not None:
        jobs = [j for j in jobs if j.run_id == run_id]
    jobs.sort(key=lambda j: j.school_id)
    jobs.sort(key=lambda j: j.run_id, reverse=True)
    return jobs


def _last_stamp(job: NightlyJob) -> datetime | None:
    return job.finished_at or job.started_at or job.queued_at


def prune_nights(target: Store | UnitOfWork, *, older_than: timedelta, now: datetime) -> list[str]:
    """Delete the job records of every night that ended more than *older_than* before *now*
    (a night ends at the newest time any of its jobs was stamped: finished, else started,
    else queued); returns the nights removed, oldest first. The reports of the nights kept
    then read only their rows and the few pruned ones after them.

    A night is removed whole, dead letters included (a school that still fails fails again in
    a newer night, which is kept); a night none of whose jobs was ever stamped is kept. Run it
    after the night, e.g. ``schoolsync nightly prune --older-than 30``.

    Raises:
        ValueError: *older_than* is negative, or *now* is not timezone-aware.
    """
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cutoff = now - older_than
    with committed_unit(target) as uow:
        repo = uow.repository(NIGHTLY_JOBS)
        nights: dict[str, list[NightlyJob]] = {}
        for job in repo.list():
            nights.setdefault(job.run_id, []).append(job)
        old: list[tuple[datetime, str]] = []
        for run_id, jobs in nights.items():
            stamps = [t for t in map(_last_stamp, jobs) if t is not None]
            if stamps and max(stamps) < cutoff:
                old.append((max(stamps), run_id))
        old.sort()
        for _, run_id in old:
            for job in nights[run_id]:
                repo.remove(job.id)
    return [run_id for _, run_id in old]
