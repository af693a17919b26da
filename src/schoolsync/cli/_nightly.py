"""``schoolsync nightly``: run the night's sync of every school and read how it went.

The host (``--host package.module:name`` or ``SCHOOLSYNC_NIGHTLY_HOST``) is the
:class:`~schoolsync.nightly.NightlyHost` that knows the store, tonight's schools, their
connections and their feeds. ``run`` syncs them here (``--workers N``: a local process pool)
or queues them for the job engine's workers (``--engine``, with ``--dsn`` or
``SCHOOLSYNC_NIGHTLY_DSN``); ``worker`` runs one such worker; ``status``, ``report`` and
``dead-letters`` read the night from the store, wherever its workers run.
"""

from __future__ import annotations

import os
from typing import Any

import click

from schoolsync.cli._common import Output, _DataProblems, echo_table, output_options

__all__ = ["nightly"]

_HOST_HELP = "The host, 'package.module:name' (default: $SCHOOLSYNC_NIGHTLY_HOST)."
_DSN_HELP = "The job engine's PostgreSQL (default: $SCHOOLSYNC_NIGHTLY_DSN)."
_DSN = click.option("--dsn", help=_DSN_HELP)
_SCHEMA = click.option("--schema", help="The job engine's schema in that database.")
_ATTEMPTS = click.option(
    "--attempts",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Attempts per school for transient failures.",
)
_COLUMNS = [
    "trust_id",
    "schools",
    "done",
    "skipped",
    "failed",
    "pending",
    "pupils_changed",
    "results_sent",
    "results_failed",
    "results_waiting",
]


def _host_path(host: str | None) -> str:
    found = host or os.environ.get("SCHOOLSYNC_NIGHTLY_HOST", "")
    if not found:
        raise click.UsageError("name the host: --host package.module:name")
    return found


def _dsn(dsn: str | None) -> str:
    found = dsn or os.environ.get("SCHOOLSYNC_NIGHTLY_DSN", "")
    if not found:
        raise click.UsageError("name the job engine's database: --dsn postgresql://...")
    return found


def _load(host: str | None) -> Any:
    from schoolsync.nightly import load_host

    try:
        loaded = load_host(_host_path(host))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    closing = getattr(loaded, "close", None)
    if callable(closing):
        click.get_current_context().call_on_close(closing)
    return loaded


def _show_report(report: Any, output: Output) -> None:
    output.result(report=report.to_dict())
    output.echo(report.progress())
    if not (output.as_json or output.quiet):
        echo_table(report.to_rows(), _COLUMNS, limit=500)
    problems = report.problems()
    if problems:
        output.echo(f"Problems ({len(problems)}):")
        for job in problems:
            output.echo(_problem_line(job))


def _problem_line(job: Any) -> str:
    trust = f" (trust {job.trust_id})" if job.trust_id else ""
    tries = f"{job.attempts} attempt{'s' if job.attempts != 1 else ''}"
    return f"  {job.school_id}{trust}: {job.status.value}, {job.problem}, {tries}: {job.reason}"


@click.group()
def nightly() -> None:
    """Run the nightly sync of every school; report on it."""


@nightly.command()
@click.option("--host", help=_HOST_HELP)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local worker processes (1: this process).",
)
@click.option("--engine", is_flag=True, help="Queue the schools for the job engine's workers.")
@_DSN
@_SCHEMA
@click.option("--run-id", help="The night's id (default: from the host's clock).")
@_ATTEMPTS
@output_options
def run(
    host: str | None,
    workers: int,
    engine: bool,
    dsn: str | None,
    schema: str | None,
    run_id: str | None,
    attempts: int,
    output: Output,
) -> None:
    """Sync every school of the host tonight (or queue them with --engine)."""
    from schoolsync.nightly import JobRetry, jobs_for, new_run_id, run_in_process, run_pool

    path = _host_path(host)
    loaded = _load(path)
    night = run_id or new_run_id(loaded.clock().now())
    jobs = jobs_for(loaded, night)
    if not jobs:
        raise click.UsageError("the host lists no schools tonight")
    retry = JobRetry(attempts=attempts)
    if engine:
        from schoolsync.nightly.engine import enqueue_night, nightly_app

        app = nightly_app(_dsn(dsn), schema=schema, retry=retry)
        queued = enqueue_night(app, path, jobs)
        output.result(
            run_id=night, queued=len(queued.queued), already_queued=list(queued.already_queued)
        )
        output.echo(
            f"night {night}: queued {len(queued.queued):,} schools "
            f"({len(queued.already_queued):,} already waiting in the queue)"
        )
        return
    with output.progress(f"night {night}") as progress:

        def advance(_record: object) -> None:
            progress.advance()

        if workers == 1:
            report = run_in_process(loaded, jobs, retry=retry, progress=advance)
        else:
            report = run_pool(path, jobs, workers=workers, retry=retry, progress=advance)
    output.result(run_id=night)
    _show_report(report, output)
    if report.total.failed:
        raise _DataProblems(f"{report.total.failed} school(s) failed (see dead-letters)")


@nightly.command()
@click.option("--host", help=_HOST_HELP)
@click.option("--run", "run_id", help="The night (default: the newest).")
@output_options
def status(host: str | None, run_id: str | None, output: Output) -> None:
    """How far the night has got: one line."""
    from schoolsync.nightly import night_report

    report = night_report(_load(host).store(), run_id)
    t = report.total
    output.result(run_id=report.run_id, finished=report.finished, total=t.to_dict())
    output.echo(report.progress())


@nightly.command()
@click.option("--host", help=_HOST_HELP)
@click.option("--run", "run_id", help="The night (default: the newest).")
@output_options
def report(host: str | None, run_id: str | None, output: Output) -> None:
    """The night per trust and in total, and every school skipped or failed."""
    from schoolsync.nightly import night_report

    _show_report(night_report(_load(host).store(), run_id), output)


@nightly.command("dead-letters")
@click.option("--host", help=_HOST_HELP)
@click.option("--run", "run_id", help="Only this night.")
@output_options
def dead_letters(host: str | None, run_id: str | None, output: Output) -> None:
    """The schools whose sync failed for good, with the reason: for a person to act on."""
    from schoolsync.nightly import dead_letters as listed

    listed_jobs = listed(_load(host).store(), run_id)
    rows = [
        {
            "night": j.run_id,
            "school": j.school_id,
            "trust": j.trust_id or "",
            "problem": j.problem,
            "attempts": j.attempts,
            "reason": j.reason,
        }
        for j in listed_jobs
    ]
    output.result(dead_letters=rows)
    output.echo(f"{len(rows)} school(s) failed" if rows else "no school failed")
    for job in listed_jobs:
        output.echo(f"  {job.run_id}" + _problem_line(job)[1:])


@nightly.command()
@_DSN
@_SCHEMA
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Jobs at once in this process (one worker process per core is better).",
)
@click.option(
    "--heartbeat",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between the worker's heartbeats.",
)
@click.option(
    "--poll",
    type=float,
    default=5.0,
    show_default=True,
    help="Longest wait before looking for jobs that became ready (retries, locks).",
)
@click.option("--once", is_flag=True, help="Stop when the queue is empty.")
@_ATTEMPTS
@click.option(
    "--retry-wait",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds before the first retry (doubling after each).",
)
@output_options
def worker(
    dsn: str | None,
    schema: str | None,
    concurrency: int,
    heartbeat: float,
    poll: float,
    once: bool,
    attempts: int,
    retry_wait: float,
    output: Output,
) -> None:
    """Run a job engine worker on the nightly queue until stopped."""
    from schoolsync.nightly import JobRetry
    from schoolsync.nightly.engine import nightly_app, run_worker

    retry = JobRetry(attempts=attempts, wait_initial=retry_wait)
    app = nightly_app(_dsn(dsn), schema=schema, retry=retry)
    run_worker(app, concurrency=concurrency, heartbeat=heartbeat, poll=poll, wait=not once)


@nightly.command()
@_DSN
@_SCHEMA
@click.option(
    "--stalled-after",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds without a heartbeat after which a worker's job is stalled.",
)
@output_options
def recover(dsn: str | None, schema: str | None, stalled_after: float, output: Output) -> None:
    """Queue again the school jobs of workers that died (their schools are unchanged)."""
    from schoolsync.nightly.engine import nightly_app, recover_stalled

    count = recover_stalled(nightly_app(_dsn(dsn), schema=schema), stalled_after=stalled_after)
    output.result(recovered=count)
    output.echo(f"{count} stalled school job(s) queued again")


@nightly.command("init")
@_DSN
@_SCHEMA
@output_options
def init(dsn: str | None, schema: str | None, output: Output) -> None:
    """Create the job engine's tables (once per database)."""
    from schoolsync.nightly.engine import apply_schema, nightly_app

    apply_schema(nightly_app(_dsn(dsn), schema=schema), schema=schema)
    output.echo("the job engine's tables are ready")
