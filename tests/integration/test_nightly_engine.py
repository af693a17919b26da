"""The nightly sync on the job engine (procrastinate on PostgreSQL) with real worker processes:
a school's job is never queued twice nor run twice at once, a broker storm is retried, the
change-size guard is not, and a worker SIGKILLed in the middle of a school's transaction
leaves that school untouched until its job, recovered from the stalled worker, runs again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from schoolsync.brokers.sync import load_watermark
from schoolsync.nightly import JobRetry, JobStatus, SchoolJob, jobs_for, night_report
from schoolsync.ports import MisSnapshot
from schoolsync.records.audit import AuditAction
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import FakeWonde
from schoolsync.testing.nightly import (
    ConfiguredHost,
    broker_config,
    import_schools,
    write_config,
)

pytest.importorskip("procrastinate")

from schoolsync.nightly.engine import (
    apply_schema,
    enqueue_night,
    nightly_app,
    recover_stalled,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DAY0 = datetime(2026, 3, 2, 2, tzinfo=UTC)
HOST = "schoolsync.testing.nightly:ConfiguredHost"
SCHOOLS = [("T1", "A"), ("T1", "B"), ("T2", "C"), ("T2", "D")]


@pytest.fixture
def dsn() -> Iterator[str]:
    """A database for the test alone (not the module's ``postgres_dsn``): each test starts
    with the job engine's queue and the night's records empty."""
    from schoolsync.testing.contracts import postgres_admin_dsn, throwaway_postgres_database

    with throwaway_postgres_database(postgres_admin_dsn()) as made:
        yield made


@pytest.fixture(autouse=True)
def fresh_hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test's host afresh (closed at its end): the engine keeps a process's hosts by
    import path, and the last test's store was dropped with its database."""
    from schoolsync.nightly import engine

    hosts: dict[str, Any] = {}
    monkeypatch.setattr(engine, "_HOSTS", hosts)
    yield
    for host in hosts.values():
        host.close()


def served(school_id: str) -> MisSnapshot:
    return sample_snapshot(school_id, pupils=30, staff=3, year_codes=("7",), classes_per_year=2)


def renamed(snapshot: MisSnapshot, *indexes: int) -> MisSnapshot:
    pupils = list(snapshot.pupils)
    for i in indexes:
        pupils[i] = attrs.evolve(pupils[i], forename=pupils[i].forename + "-Jo")
    return attrs.evolve(snapshot, pupils=tuple(pupils))


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def worker(dsn: str) -> subprocess.Popen[bytes]:
    code = "from schoolsync.cli import main; main()"
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "nightly",
            "worker",
            "--dsn",
            dsn,
            "--schema",
            "jobs",
            "--heartbeat",
            "0.5",
            "--poll",
            "0.2",
            "--attempts",
            "3",
            "--retry-wait",
            "0",
        ],
        env=os.environ.copy(),
    )


class Workers:
    """Worker processes of the job engine, stopped at the end."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int = 1) -> None:
        self.procs += [worker(self.dsn) for _ in range(n)]

    def kill_when_stalled(self, stall: Path, school: str) -> None:
        """Wait for a worker to be inside *school*'s transaction; SIGKILL it there."""
        reached = stall.with_name(f"{stall.name}.{school}.reached")
        wait_for(lambda: reached.exists() and reached.read_text() != "", f"{school} stalled")
        victim = int(reached.read_text())
        proc = next(p for p in self.procs if p.pid == victim)
        os.kill(victim, signal.SIGKILL)
        proc.wait(timeout=30)
        stall.with_name(f"{stall.name}.{school}").unlink()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_two_workers_one_job_per_school_retries_and_sigkilled_workers(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds = {sid: served(sid) for _, sid in SCHOOLS}
    stall = tmp_path / "stall"
    monkeypatch.setenv("SCHOOLSYNC_NIGHTLY_TEST_CONFIG", str(tmp_path / "host.json"))
    workers = Workers(dsn)
    with FakeWonde(token="t0k3n", schools=dict(feeds)) as fake:
        write_config(
            tmp_path / "host.json",
            {
                "store": {"postgres": dsn, "schema": "night"},
                "broker": broker_config(fake),
                "schools": [[trust, sid, sid] for trust, sid in SCHOOLS],
                "stall_commit": str(stall),
            },
        )
        host = ConfiguredHost()
        store = host.store()

        def names(sid: str) -> list[str]:
            with store.unit_of_work() as uow:
                return sorted(p.forename for p in uow.pupils.list(school_id=sid))

        def renames(sid: str) -> int:
            return sum(1 for n in names(sid) if n.endswith("-Jo"))

        def recover(expected: int) -> None:
            found = 0

            def done() -> bool:
                nonlocal found
                found += recover_stalled(app, stalled_after=2.0)
                return found >= expected

            wait_for(done, "the stalled job to be recovered", timeout=30)

        def finished(*runs: str) -> None:
            wait_for(
                lambda: all(night_report(store, r).finished for r in runs), f"{runs} to finish"
            )

        import_schools(host, fake, at=DAY0)
        fake.set_school("A", renamed(feeds["A"], 1, 2))
        fake.set_school("B", renamed(feeds["B"], 3))
        fake.inject("503", endpoint="schools/B/students", times=2)  # B's first attempt fails
        fake.set_school("C", attrs.evolve(feeds["C"], pupils=feeds["C"].pupils[:10]))  # guard
        fake.set_school("D", renamed(feeds["D"], 4))
        a_before, a_mark = names("A"), load_watermark(store, "A", "wonde")

        app = nightly_app(dsn, schema="jobs", retry=JobRetry(attempts=3, wait_initial=0))
        apply_schema(app, schema="jobs")
        jobs = jobs_for(host, "n1")
        first = enqueue_night(app, HOST, jobs)
        again = enqueue_night(app, HOST, jobs)  # still waiting: the queueing lock refuses them
        assert sorted(first.queued) == ["A", "B", "C", "D"]
        assert sorted(again.already_queued) == ["A", "B", "C", "D"]
        assert again.queued == ()
        try:
            # 1. A worker dies inside A's transaction: A is untouched; the job runs again.
            Path(f"{stall}.A").touch()
            workers.start(2)
            workers.kill_when_stalled(stall, "A")
            assert names("A") == a_before
            assert load_watermark(store, "A", "wonde") == a_mark
            recover(1)
            workers.start(1)  # a replacement, as a supervisor would start
            finished("n1")
            n1 = {j.school_id: j for j in night_report(store, "n1").jobs}
            assert (n1["A"].status, n1["A"].attempts, n1["A"].pupils_changed) == (
                JobStatus.DONE,
                2,
                2,
            )
            assert (n1["B"].status, n1["B"].attempts, n1["B"].pupils_changed) == (
                JobStatus.DONE,
                2,
                1,
            )
            assert (n1["C"].status, n1["C"].problem, n1["C"].attempts) == (
                JobStatus.SKIPPED,
                "guard",
                1,
            )
            assert (n1["D"].status, n1["D"].attempts) == (JobStatus.DONE, 1)
            assert renames("A") == 2
            assert renames("B") == 1
            assert len(names("C")) == 30

            # 2. D's next night waits behind D's running job (the lock), across workers; when
            # that worker dies, the waiting job takes over and the stalled one is superseded.
            fake.set_school("D", renamed(feeds["D"], 4, 5))
            Path(f"{stall}.D").touch()
            enqueue_night(app, HOST, [SchoolJob(run_id="n2", school_id="D", trust_id="T2")])
            wait_for(lambda: Path(f"{stall}.D.reached").exists(), "D's job to stall")
            later = enqueue_night(app, HOST, [SchoolJob(run_id="n3", school_id="D", trust_id="T2")])
            assert later.queued == ("D",)  # a running job does not hold the queueing lock
            workers.kill_when_stalled(stall, "D")
            killed_at = datetime.now(UTC)
            recover(1)
            workers.start(1)
            finished("n2", "n3")
        finally:
            workers.stop()

        (d2,) = night_report(store, "n2").jobs
        (d3,) = night_report(store, "n3").jobs
        assert (d2.status, d2.problem) == (JobStatus.SKIPPED, "superseded")
        assert (d3.status, d3.pupils_changed) == (JobStatus.DONE, 1)
        assert d3.started_at is not None
        assert d3.started_at >= killed_at - timedelta(seconds=1)
        assert renames("D") == 2
        with store.unit_of_work() as uow:
            events = uow.audit.events(school_id="A")
        syncs = [e for e in events if e.action is AuditAction.MIS_SYNC_INCREMENTAL]
        assert len(syncs) == 1  # the recovered job applied A's changes once
        host.close()


def test_a_worker_sigkilled_between_a_results_post_and_its_record_never_posts_it_twice(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job sends the school's queued results after its sync commits. A worker killed just
    after the broker took a result (before the answer was recorded) leaves it *sending*; the
    recovered job settles it as uncertain (for a person to check) and does not post it again;
    the other result, queued behind it, is sent once."""
    from schoolsync.brokers.results import queue_result
    from schoolsync.records.brokers import ResultState
    from schoolsync.records.tables import RESULT_OUTBOX
    from schoolsync.testing.brokers import FakeOneRoster

    feed = served("A")
    sent = tmp_path / "sent"
    monkeypatch.setenv("SCHOOLSYNC_NIGHTLY_TEST_CONFIG", str(tmp_path / "host.json"))
    workers = Workers(dsn)
    with FakeOneRoster(client_id="c", client_secret="s", schools={"A": feed}) as fake:
        write_config(
            tmp_path / "host.json",
            {
                "store": {"postgres": dsn, "schema": "night"},
                "broker": broker_config(fake),
                "schools": [["T1", "A", "A"]],
                "sharing": ["A"],
                "stall_send": str(sent),
            },
        )
        host = ConfiguredHost()
        store = host.store()
        import_schools(host, fake, at=DAY0)
        with store.unit_of_work() as uow:
            pupils = sorted(p.id for p in uow.pupils.list(school_id="A"))
            for n, pupil in enumerate(pupils[:2]):
                queue_result(
                    uow,
                    host.connection("A"),
                    result_id=f"mark-{n}",
                    pupil_id=pupil,
                    payload={"line_item": "li-1", "score": 7},
                    marked_at=DAY0 + timedelta(minutes=n),
                    at=DAY0,
                )
            uow.commit()

        def puts(result_id: str) -> int:
            return sum(1 for r in fake.log if r.path.endswith(f"/results/{result_id}"))

        app = nightly_app(dsn, schema="jobs", retry=JobRetry(attempts=3, wait_initial=0))
        apply_schema(app, schema="jobs")
        Path(f"{sent}.A").touch()
        enqueue_night(app, HOST, [SchoolJob(run_id="n1", school_id="A", trust_id="T1")])
        try:
            workers.start(1)
            workers.kill_when_stalled(sent, "A")  # mark-0 reached the broker, unrecorded
            assert puts("mark-0") == 1
            assert puts("mark-1") == 0
            found = 0

            def recovered() -> bool:
                nonlocal found
                found += recover_stalled(app, stalled_after=2.0)
                return found >= 1

            wait_for(recovered, "the stalled job to be recovered", timeout=30)
            workers.start(1)
            wait_for(
                lambda: (
                    (night_report(store, "n1").jobs[0].attempts == 2)
                    and night_report(store, "n1").finished
                ),
                "the job to run again",
            )
        finally:
            workers.stop()
        (job,) = night_report(store, "n1").jobs
        assert (job.status, job.attempts) == (JobStatus.DONE, 2)
        assert (job.results_sent, job.results_failed) == (1, 1)
        assert puts("mark-0") == 1  # never posted twice
        assert puts("mark-1") == 1
        with store.unit_of_work() as uow:
            states = {r.id: r.state for r in uow.repository(RESULT_OUTBOX).list(school_id="A")}
        assert states == {"mark-0": ResultState.UNCERTAIN, "mark-1": ResultState.SENT}
        host.close()
