"""``schoolsync nightly``: run the night's sync of every school and read how it went.

The host (``--host package.module:name`` or ``SCHOOLSYNC_NIGHTLY_HOST``) is the
:class:`~schoolsync.nightly.NightlyHost` that knows the store, tonight's schools, their
connections and their feeds. ``run`` syncs them here (``--workers N``: a local process pool)
or queues them for the job engine's workers (``--engine``, with ``--dsn`` or
``SCHOOLSYNC_NIGHTLY_DSN``); ``worker`` runs one such worker; ``status``, ``report`` and
``dead-letters`` read the night from the store, wherever its workers run; ``prune`` deletes
old nights' records.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from schoolsync.cli._common import Output, _DataProblems, echo_table, output_options

__all__ = ["nightly"]

_F = TypeVar("_F", bound=Callable[..., Any])
_HOST_HELP = "The host, 'package.module:name' (default: $SCHOOLSYNC_NIGHTLY_HOST)."
_DSN_HELP = "The job engine's PostgreSQL (default: $SCHOOLSYNC_NIGHTLY_DSN)."
_HOST = click.option("--host", help=_HOST_HELP)
_DSN = click.option("--dsn", help=_DSN_HELP)
_SCHEMA = click.option("--schema", help="The job engine's schema in that database.")


def _count(name: str, default: int, help: str) -> Callable[[_F], _F]:
    """A whole-number option of at least 1."""
    return click.option(
        name, type=click.IntRange(min=1), default=default, show_default=True, help=help
    )


def _seconds(name: str, default: float, help: str) -> Callable[[_F], _F]:
    """An option in seconds (at least 0)."""
    return click.option(
        name, type=click.FloatRange(min=0), default=default, show_default=True, help=help
    )


_ATTEMPTS = _count("--attempts", 3, "Attempts per school for transient failures.")


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


def _show_report(report: Any, output: Output, *, brief: bool = False) -> None:
    """A night: its progress line; unless *brief*, the table per trust and the problems."""
    if brief:
        output.result(run_id=report.run_id, finished=report.finished, total=report.total.to_dict())
        output.echo(report.progress())
        return
    output.result(report=report.to_dict())
    output.echo(report.progress())
    if not (output.as_json or output.quiet):
        echo_table(report.to_rows(), report.COLUMNS, limit=500)
    problems = report.problems()
    if problems:
        output.echo(f"Problems ({len(problems)}):")
        for job in problems:
            output.echo(_problem_line(job))


def _job_row(job: Any, *, night: bool = False) -> dict[str, Any]:
    """A troubled school's job as JSON (with its night for the dead-letter list)."""
    row = {"night": job.run_id} if night else {}
    return row | {
        "school": job.school_id,
        "trust": job.trust_id or "",
        "problem": job.problem,
        "attempts": job.attempts,
        "reason": job.reason,
    }


def _problem_line(job: Any, *, night: bool = False) -> str:
    trust = f" (trust {job.trust_id})" if job.trust_id else ""
    tries = f"{job.attempts} attempt{'s' if job.attempts != 1 else ''}"
    where = f"{job.run_id} {job.school_id}" if night else job.school_id
    return f"  {where}{trust}: {job.status.value}, {job.problem}, {tries}: {job.reason}"


@click.group()
def nightly() -> None:
    """Run the nightly sync of every school; report on it."""


@nightly.command()
@_HOST
@_count("--workers", 1, "Local worker processes (1: this process).")
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


def _night_options(run_help: str) -> Callable[[_F], _F]:
    """--host, --run and the output options of the commands that read a night."""

    def decorate(command: _F) -> _F:
        for option in reversed(
            (_HOST, click.option("--run", "run_id", help=run_help), output_options)
        ):
            command = option(command)
        return command

    return decorate


def _night(host: str | None, run_id: str | None) -> Any:
    from schoolsync.nightly import night_report

    return night_report(_load(host).store(), run_id)


@nightly.command()
@_night_options("The night (default: the newest).")
def status(host: str | None, run_id: str | None, output: Output) -> None:
    """How far the night has got: one line."""
    _show_report(_night(host, run_id), output, brief=True)


@nightly.command()
@_night_options("The night (default: the newest).")
def report(host: str | None, run_id: str | None, output: Output) -> None:
    """The night per trust and in total, and every school skipped or failed."""
    _show_report(_night(host, run_id), output)


@nightly.command("dead-letters")
@_night_options("Only this night.")
def dead_letters(host: str | None, run_id: str | None, output: Output) -> None:
    """The schools whose sync failed for good, with the reason: for a person to act on."""
    from schoolsync.nightly import dead_letters as listed

    listed_jobs = listed(_load(host).store(), run_id)
    output.result(dead_letters=[_job_row(j, night=True) for j in listed_jobs])
    output.echo(f"{len(listed_jobs)} school(s) failed" if listed_jobs else "no school failed")
    for job in listed_jobs:
        output.echo(_problem_line(job, night=True))


@nightly.command()
@_HOST
@_count("--older-than", 30, "Days: nights that ended longer ago than this are deleted.")
@output_options
def prune(host: str | None, older_than: int, output: Output) -> None:
    """Delete the job records of old nights (the reports read fewer rows)."""
    from datetime import timedelta

    from schoolsync.nightly import prune_nights

    loaded = _load(host)
    removed = prune_nights(
        loaded.store(), older_than=timedelta(days=older_than), now=loaded.clock().now()
    )
    output.result(pruned=removed)
    output.echo(
        f"pruned {len(removed)} night(s) older than {older_than} day(s)"
        + (f": {removed[0]} to {removed[-1]}" if removed else "")
    )


@nightly.command()
@_DSN
@_SCHEMA
@_count("--concurrency", 1, "Jobs at once in this process (one worker process per core is better).")
@_seconds("--heartbeat", 10.0, "Seconds between the worker's heartbeats.")
@_seconds("--poll", 5.0, "Longest wait before looking for jobs that became ready (retries, locks).")
@click.option("--once", is_flag=True, help="Stop when the queue is empty.")
@_ATTEMPTS
@_seconds("--retry-wait", 30.0, "Seconds before the first retry (doubling after each).")
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
@_seconds(
    "--stalled-after", 30.0, "Seconds without a heartbeat after which a worker's job is stalled."
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
