"""The nightly job writes the school's queued assessment results back after its sync commits
(#19: "fetch, plan, guard, apply, queue write-back"), through the school's results port, against
the loopback fakes that record what was posted: in this process (Assembly, on each store), on a
process pool (the OneRoster gradebook). A refusal never fails the school's sync and is tried again on a later
night; a sync the change-size guard refused still sends the results queued before it; a
deauthorised school sends nothing. The job fetches outside any transaction, and a fetch made
stale by another sync meanwhile is skipped with nothing written. The office's nightly sync is
the same code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from schoolsync.brokers.results import queue_result
from schoolsync.brokers.sync import load_watermark
from schoolsync.clock import SystemClock
from schoolsync.nightly import (
    JobStatus,
    SchoolJob,
    jobs_for,
    night_report,
    run_in_process,
    run_pool,
    run_school,
)
from schoolsync.ports import Clock, MisSnapshot, MisSource, Store
from schoolsync.records.brokers import ResultState
from schoolsync.records.tables import RESULT_OUTBOX
from schoolsync.sync.connection import MisConnection, deauthorise
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import (
    ASSESSMENT,
    QUICK,
    FakeAssembly,
    FakeOneRoster,
    import_school,
)
from schoolsync.testing.nightly import (
    ConfiguredHost,
    authorised_connection,
    broker_config,
    import_schools,
    write_config,
)

DAY0 = datetime(2026, 3, 2, 2, tzinfo=UTC)


def served(school_id: str) -> MisSnapshot:
    return sample_snapshot(school_id, pupils=24, staff=3, year_codes=("7",), classes_per_year=2)


def pupils_of(store: Store, school_id: str) -> list[str]:
    with store.unit_of_work() as uow:
        return sorted(p.id for p in uow.pupils.list(school_id=school_id))


def mark(store: Store, connection: MisConnection, result_id: str, pupil: str) -> None:
    """The host's unit of work that records a mark queues its result (if shared)."""
    with store.unit_of_work() as uow:
        queue_result(
            uow,
            connection,
            result_id=result_id,
            pupil_id=pupil,
            payload=ASSESSMENT,
            marked_at=DAY0,
            at=DAY0,
        )
        uow.commit()


def states(store: Store, school_id: str) -> dict[str, ResultState]:
    with store.unit_of_work() as uow:
        return {r.id: r.state for r in uow.repository(RESULT_OUTBOX).list(school_id=school_id)}


@attrs.define
class AssemblyHost:
    """A host of schools at the fake Assembly, in this process."""

    fake: FakeAssembly
    db: Store
    connections: dict[str, MisConnection]
    trusts: dict[str, str]
    sources: dict[str, Any] = attrs.field(factory=dict)

    def store(self) -> Store:
        return self.db

    def schools(self) -> list[tuple[str | None, str]]:
        return [(self.trusts[s], s) for s in self.connections]

    def connection(self, school_id: str) -> MisConnection:
        return self.connections[school_id]

    def source(self, school_id: str) -> MisSource:
        if school_id not in self.sources:
            self.sources[school_id] = self.fake.connect(school_id, settings=QUICK)
        found: MisSource = self.sources[school_id]
        return found

    def clock(self) -> Clock:
        return SystemClock()

    def close(self) -> None:
        for source in self.sources.values():
            source.close()


@pytest.fixture
def assembly(store: Store) -> Iterator[AssemblyHost]:
    feeds = {sid: served(sid) for sid in ("A", "B")}
    with FakeAssembly(
        client_id="c",
        client_secret="s",
        refresh_tokens={sid: f"r-{sid}" for sid in feeds},
        schools=feeds,
    ) as fake:
        connections = {
            "A": authorised_connection("A", "assembly", sharing=True),
            "B": authorised_connection("B", "assembly"),  # B does not share results
        }
        host = AssemblyHost(
            fake=fake, db=store, connections=connections, trusts={"A": "T1", "B": "T1"}
        )
        for sid, connection in connections.items():
            import_school(store, host.source(sid), connection=connection, at=DAY0)
        yield host
        host.close()


def test_the_job_sends_the_queued_results_once_after_its_sync(assembly: AssemblyHost) -> None:
    store, fake = assembly.db, assembly.fake
    pupil = pupils_of(store, "A")[0]
    mark(store, assembly.connections["A"], "mark-1", pupil)
    mark(store, assembly.connections["B"], "not-shared", pupils_of(store, "B")[0])
    assert states(store, "B") == {}  # B shares nothing: nothing was queued

    report = run_in_process(assembly, jobs_for(assembly, "n1"))

    jobs = {j.school_id: j for j in report.jobs}
    assert (jobs["A"].status, jobs["A"].results_sent, jobs["A"].results_failed) == (
        JobStatus.DONE,
        1,
        0,
    )
    assert jobs["B"].results_sent == 0
    assert len(fake.results) == 1
    posted = fake.results[0]
    assert fake.record_of("A", posted["student_id"]) is not None
    assert posted["grade_id"] == 41
    assert states(store, "A") == {"mark-1": ResultState.SENT}
    (t1,) = report.trusts()
    assert (t1.results_sent, t1.results_failed, t1.results_waiting) == (1, 0, 0)
    as_json = json.loads(report.to_json())
    assert as_json["total"]["results_sent"] == 1
    assert as_json["results"] == [
        {"school_id": "A", "trust_id": "T1", "sent": 1, "failed": 0, "waiting": 0}
    ]
    assert "1 result sent" in report.progress()

    again = run_in_process(assembly, jobs_for(assembly, "n2"))  # never posted twice
    assert again.total.results_sent == 0
    assert len(fake.results) == 1


def test_a_refused_or_unsent_result_waits_for_a_later_night_and_never_fails_the_sync(
    assembly: AssemblyHost,
) -> None:
    store, fake = assembly.db, assembly.fake
    first, second = pupils_of(store, "A")[:2]
    mark(store, assembly.connections["A"], "refused", first)
    mark(store, assembly.connections["A"], "limited", second)
    fake.inject("422", endpoint="/results", times=1)  # the broker refuses the first post
    fake.inject("429", endpoint="/results", times=50, retry_after=0)  # then rate-limits it all
    job = SchoolJob(run_id="n1", school_id="A", trust_id="T1")

    record = run_school(job, assembly)

    assert (record.status, record.problem) == (JobStatus.DONE, "")
    assert (record.results_sent, record.results_waiting) == (0, 2)
    assert states(store, "A") == {"refused": ResultState.QUEUED, "limited": ResultState.QUEUED}
    assert fake.results == []
    report = night_report(store, "n1")
    assert report.total.results_waiting == 2

    fake.faults.clear()
    later = run_school(SchoolJob(run_id="n2", school_id="A", trust_id="T1"), assembly)

    assert (later.status, later.results_sent, later.results_waiting) == (JobStatus.DONE, 2, 0)
    assert len(fake.results) == 2


def test_a_sync_the_guard_refuses_still_sends_the_results_queued_before_it(
    assembly: AssemblyHost,
) -> None:
    store, fake = assembly.db, assembly.fake
    pupils = pupils_of(store, "A")
    mark(store, assembly.connections["A"], "mark-1", pupils[0])
    feed = served("A")
    fake.set_school("A", attrs.evolve(feed, pupils=feed.pupils[:8]))  # a half-empty feed
    mark_before = load_watermark(store, "A", "assembly")

    record = run_school(SchoolJob(run_id="n1", school_id="A", trust_id="T1"), assembly)

    assert (record.status, record.problem, record.results_sent) == (JobStatus.SKIPPED, "guard", 1)
    assert pupils_of(store, "A") == pupils  # the roster is untouched
    assert load_watermark(store, "A", "assembly") == mark_before
    assert len(fake.results) == 1
    assert night_report(store, "n1").total.results_sent == 1


def test_a_deauthorised_school_sends_nothing(assembly: AssemblyHost) -> None:
    store, fake = assembly.db, assembly.fake
    mark(store, assembly.connections["A"], "mark-1", pupils_of(store, "A")[0])
    assembly.connections["A"] = deauthorise(
        assembly.connections["A"],
        actor_id="school",
        at=DAY0,
        can_configure=lambda a, p, s: True,
    )

    record = run_school(SchoolJob(run_id="n1", school_id="A", trust_id="T1"), assembly)

    assert (record.status, record.problem) == (JobStatus.SKIPPED, "deauthorised")
    assert fake.results == []
    assert states(store, "A") == {"mark-1": ResultState.QUEUED}


class _SyncedMeanwhile:
    """A school's connector whose fetch is followed, before the job's transaction, by
    another sync of the same school committing (a person's sync through the office, say)."""

    def __init__(self, inner: Any, other: Any) -> None:
        self._inner = inner
        self._other = other
        self.provider = inner.provider

    def fetch(self, since: Any = None) -> Any:
        fetched = self._inner.fetch(since)
        self._other()
        return fetched

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_fetch_made_stale_by_another_sync_is_skipped_with_nothing_written(
    assembly: AssemblyHost,
) -> None:
    store, fake = assembly.db, assembly.fake
    feed = served("A")
    pupils = list(feed.pupils)
    pupils[0] = attrs.evolve(pupils[0], forename="Renamed")
    fake.set_school("A", attrs.evolve(feed, pupils=tuple(pupils)))
    inner = assembly.source("A")
    other = run_school  # the same job, for another night, commits first
    assembly.sources["A"] = _SyncedMeanwhile(
        inner,
        lambda: other(SchoolJob(run_id="other", school_id="A", trust_id="T1"), _Plain(assembly)),
    )

    record = run_school(SchoolJob(run_id="n1", school_id="A", trust_id="T1"), assembly)

    assert (record.status, record.problem) == (JobStatus.SKIPPED, "stale")
    assert not record.transient
    (winner,) = night_report(store, "other").jobs
    assert (winner.status, winner.pupils_changed) == (JobStatus.DONE, 1)
    with store.unit_of_work() as uow:
        events = uow.audit.events(school_id="A")
    assert sum(1 for e in events if e.action.value == "mis_sync.incremental") == 1


class _Plain:
    """The same host, with the undecorated connectors."""

    def __init__(self, host: AssemblyHost) -> None:
        self._host = host

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)

    def source(self, school_id: str) -> MisSource:
        key = f"{school_id} (plain)"
        if key not in self._host.sources:  # closed with the host's
            self._host.sources[key] = self._host.fake.connect(school_id, settings=QUICK)
        found: MisSource = self._host.sources[key]
        return found


# -- the office's nightly sync is the job's code -----------------------------------------------


def test_the_office_nightly_sync_sends_results_and_dry_runs_a_broker_like_the_job(
    store: Store,
) -> None:
    feed = served("A")
    with FakeAssembly(
        client_id="c", client_secret="s", refresh_tokens={"A": "r-A"}, schools={"A": feed}
    ) as fake:
        connection = authorised_connection("A", "assembly", sharing=True)
        source = fake.connect("A", settings=QUICK)
        try:
            _office_night(store, fake, source, connection, feed)
        finally:
            source.close()


def _office_night(
    store: Store, fake: FakeAssembly, source: Any, connection: MisConnection, feed: MisSnapshot
) -> None:
    from schoolsync import TrustOffice
    from schoolsync.access.presets import hodder_admin_hub
    from schoolsync.records.tables import MIS_CONNECTIONS
    from schoolsync.trusts import School

    import_school(store, source, connection=connection, at=DAY0)
    with store.unit_of_work() as uow:
        if uow.schools.get("A") is None:
            uow.schools.put(School(id="A", name="A"))
        uow.repository(MIS_CONNECTIONS).put(connection)
        uow.commit()
    office = TrustOffice(store, catalogue=hodder_admin_hub())
    mark(store, connection, "mark-1", pupils_of(store, "A")[0])
    pupils = list(feed.pupils)
    pupils[1] = attrs.evolve(pupils[1], forename="Renamed")
    fake.set_school("A", attrs.evolve(feed, pupils=tuple(pupils)))
    before = load_watermark(store, "A", "assembly")

    dry = office.nightly_sync("A", source, dry_run=True)

    assert not dry.committed  # a broker's dry run: the plan's report
    assert load_watermark(store, "A", "assembly") == before  # nothing written
    assert fake.results == []  # ... and nothing sent

    night = office.nightly_sync("A", source)

    assert night.report.committed
    assert load_watermark(store, "A", "assembly") != before
    assert len(fake.results) == 1
    assert states(store, "A") == {"mark-1": ResultState.SENT}


# -- a pool of worker processes, the OneRoster gradebook ---------------------------------------

HOST = "schoolsync.testing.nightly:ConfiguredHost"
ONEROSTER = [("T1", "A"), ("T1", "B"), ("T2", "C")]


@pytest.fixture
def oneroster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    feeds = {sid: own_ids(served(sid)) for _, sid in ONEROSTER}
    monkeypatch.setenv("SCHOOLSYNC_NIGHTLY_TEST_CONFIG", str(tmp_path / "host.json"))
    with FakeOneRoster(client_id="c", client_secret="s", schools=feeds) as fake:
        write_config(
            tmp_path / "host.json",
            {
                "store": {"sqlite": str(tmp_path / "night.sqlite")},
                "broker": broker_config(fake),
                "schools": [[trust, sid, sid] for trust, sid in ONEROSTER],
                "sharing": ["A", "B"],
            },
        )
        host = ConfiguredHost()
        import_schools(host, fake, at=DAY0)
        yield fake, host
        host.close()


def own_ids(snapshot: MisSnapshot) -> MisSnapshot:
    """The school's pupils with ids of their own (OneRoster's demographics span every org)."""
    sid = snapshot.school_id
    pupils = tuple(
        attrs.evolve(p, id=f"{sid}-{p.id}", mis_id=f"{sid}-{p.mis_id}" if p.mis_id else None)
        for p in snapshot.pupils
    )
    return attrs.evolve(snapshot, pupils=pupils)


def puts(fake: FakeOneRoster) -> int:
    return sum(1 for r in fake.log if "/gradebook/v1p2/results/" in r.path)


def test_a_night_on_a_pool_writes_results_back_to_the_gradebook(oneroster: Any) -> None:
    fake, host = oneroster
    store = host.store()
    for sid in ("A", "B", "C"):
        for n, pupil in enumerate(pupils_of(store, sid)[:2]):
            mark(store, host.connection(sid), f"{sid}-{n}", pupil)
    assert states(store, "C") == {}  # C does not share results

    report = run_pool(HOST, jobs_for(host, "pool-night"), workers=2)

    assert report.total.done == 3
    assert report.total.results_sent == 4
    lines = {line.trust_id: line for line in report.trusts()}
    assert (lines["T1"].results_sent, lines["T2"].results_sent) == (4, 0)
    assert sorted(fake.results) == ["A-0", "A-1", "B-0", "B-1"]
    assert puts(fake) == 4
    run_pool(HOST, jobs_for(host, "pool-night-2"), workers=2)
    assert puts(fake) == 4  # never posted twice


# -- no transaction is open while the broker answers (PostgreSQL) -------------------------------


def watch_fetch(source: Any, dsn: str) -> list[int]:
    """Make *source*'s fetch first count the store's sessions sitting in a transaction
    (``idle in transaction``: what the broker's latency would cost); returns the counts."""
    import psycopg

    counts: list[int] = []
    fetch = source.fetch

    def watched(since: Any = None) -> Any:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            ).fetchone()
        counts.append(int(row[0]) if row else -1)
        return fetch(since)

    source.fetch = watched
    return counts


@pytest.mark.postgres
def test_no_transaction_is_open_while_the_broker_answers(postgres_dsn: str) -> None:
    from schoolsync.storage.postgres import PostgresStore

    feed = served("A")
    with FakeAssembly(
        client_id="c", client_secret="s", refresh_tokens={"A": "r-A"}, schools={"A": feed}
    ) as fake:
        store = PostgresStore(postgres_dsn, schema="night")
        host = AssemblyHost(
            fake=fake,
            db=store,
            connections={"A": authorised_connection("A", "assembly")},
            trusts={"A": "T1"},
        )
        try:
            import_school(store, host.source("A"), connection=host.connections["A"], at=DAY0)
            pupils = list(feed.pupils)
            pupils[0] = attrs.evolve(pupils[0], forename="Renamed")
            fake.set_school("A", attrs.evolve(feed, pupils=tuple(pupils)))
            idle = watch_fetch(host.source("A"), postgres_dsn)

            record = run_school(SchoolJob(run_id="n1", school_id="A", trust_id="T1"), host)

            assert (record.status, record.pupils_changed) == (JobStatus.DONE, 1)
            assert idle == [0]
        finally:
            host.close()
            store.close()


def test_the_job_sync_is_all_or_nothing_at_every_write(store: Store) -> None:
    """Fail each write of the job's sync in turn (a delta with a rename and a leaver the broker
    deleted): every failure leaves the store exactly as it was, the watermark included; the
    run that succeeds commits once, the sync, the soft delete and the watermark together."""
    from datetime import timedelta

    from schoolsync.clock import FixedClock
    from schoolsync.nightly import sync_school
    from schoolsync.testing.brokers import FakeWonde
    from schoolsync.testing.faults import fails_cleanly_at_every_write

    clock = FixedClock(DAY0)
    feed = served("A")
    connection = authorised_connection("A")
    with FakeWonde(token="t", schools={"A": feed}, clock=clock) as fake:
        source = fake.connect("A", settings=QUICK)  # type: ignore[attr-defined]
        try:
            import_school(store, source, connection=connection, at=DAY0)
            clock.advance(timedelta(days=1))
            pupils = list(feed.pupils)
            leaver = pupils[4]
            pupils[2] = attrs.evolve(pupils[2], forename="Sunny")
            fake.set_school(
                "A", attrs.evolve(feed, pupils=tuple(p for p in pupils if p is not leaver))
            )
            night = fails_cleanly_at_every_write(
                store,
                lambda s: sync_school(
                    s, "A", source, connection_of=lambda uow: connection, at=clock.now()
                ),
            )
        finally:
            source.close()
    assert night.writes.count("commit") == 1
    assert night.writes.index("sync_watermarks.put") < night.writes.index("commit")
    assert {"pupils.put_many", "deleted.put", "pupils.remove"} <= set(night.writes)
