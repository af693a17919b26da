"""The record the nightly sync keeps per school and night: where its job is and how it ended."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

__all__ = ["JobStatus", "NightlyJob", "nightly_job_id"]


def nightly_job_id(run_id: str, school_id: str) -> str:
    """The id of school *school_id*'s job in night *run_id*."""
    return f"{run_id}:{school_id}"


class JobStatus(StrEnum):
    """Where one school's nightly job is. ``done``, ``skipped`` and ``failed`` are final;
    ``retrying`` waits for another attempt after a transient failure."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """True once the job will not run again by itself."""
        return self in (JobStatus.DONE, JobStatus.SKIPPED, JobStatus.FAILED)


@attrs.frozen(kw_only=True)
class NightlyJob:
    """One school's job in one night's sync, as the run report and the dead-letter list read it.

    ``problem`` names the kind of trouble (``"guard"``, ``"deauthorised"``, ``"refused"``,
    ``"broker"``, ``"broker_auth"``, ``"storage"``, ``"error"``); ``reason`` says it in words
    (no personal data: the change-size guard's counts, a broker's endpoint and status).
    ``transient`` is true when a later attempt may succeed. ``timings`` holds seconds per phase
    of the last attempt (``fetch``, ``load``, ``plan``, ``apply``, ``commit``, ``results``,
    ``total``). ``results_sent``, ``results_failed`` (refused for good, or uncertain: a person
    checks) and ``results_waiting`` (queued again for a later run, or held while sharing is
    off) count the school's assessment results the job wrote back after its sync.
    """

    id: str
    run_id: str
    school_id: str
    trust_id: str | None = None
    status: JobStatus = JobStatus.QUEUED
    problem: str = ""
    reason: str = ""
    transient: bool = False
    attempts: int = 0
    pupils_changed: int = 0
    records_changed: int = 0
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    timings: dict[str, float] = attrs.field(factory=dict)
    results_sent: int = 0
    results_failed: int = 0
    results_waiting: int = 0
