"""The nightly sync of many schools without a job engine: in this process and on a local
process pool, from the fake Wonde broker into SQLite. What ends how: done (pupils changed
counted), skipped (deauthorised, the change-size guard: never retried), failed (a broker
refusal: never retried; the dead-letter list), retried (a broker 503 storm); the report per
trust and for the night, as a table, JSON and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from schoolsync.brokers.sync import load_watermark
from schoolsync.cli import main as cli
from schoolsync.errors import StorageError
from schoolsync.nightly import (
    JobRetry,
    JobStatus,
    SchoolJob,
    dead_letters,
    jobs_for,
    new_run_id,
    night_report,
    run_in_process,
    run_pool,
    run_school,
)
from schoolsync.ports import MisSnapshot, Store
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import FakeWonde
from schoolsync.testing.nightly import (
    ConfiguredHost,
    broker_config,
    import_schools,
    write_config,
)

DAY0 = datetime(2026, 3, 2, 2, tzinfo=UTC)
HOST = "schoolsync.testing.nightly:ConfiguredHost"
SCHOOLS = [("T1", "A"), ("T1", "B"), ("T2", "C"), ("T2", "D")]


def served(school_id: str) -> MisSnapshot:
    return sample_snapshot(school_id, pupils=40, staff=4, year_codes=("7", "8"), classes_per_year=2)


def renamed(snapshot: MisSnapshot, *indexes: int) -> MisSnapshot:
    pupils = list(snapshot.pupils)
    for i in indexes:
        pupils[i] = attrs.evolve(pupils[i], forename=pupils[i].forename + "-Jo")
    return attrs.evolve(snapshot, pupils=tuple(pupils))


@attrs.define
class World:
    fake: FakeWonde
    host: ConfiguredHost
    config: Path
    feeds: dict[str, MisSnapshot]

    @property
    def store(self) -> Store:
        return self.host.store()

    def pupil_names(self, school_id: str) -> dict[str, str]:
        with self.store.unit_of_work() as uow:
            return {p.id: p.forename for p in uow.pupils.list(school_id=school_id)}

    def renamed_pupils(self, school_id: str) -> int:
        return sum(1 for n in self.pupil_names(school_id).values() if n.endswith("-Jo"))

    def add_unknown_school(self) -> None:
        config = json.loads(self.config.read_text())
        config["schools"].append(["T3", "E", "UNKNOWN"])  # the broker does not know it
        write_config(self.config, config)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    feeds = {sid: served(sid) for _, sid in SCHOOLS}
    monkeypatch.setenv("SCHOOLSYNC_NIGHTLY_TEST_CONFIG", str(tmp_path / "host.json"))
    with FakeWonde(token="t0k3n", schools=dict(feeds)) as fake:
        config = write_config(
            tmp_path / "host.json",
            {
                "store": {"sqlite": str(tmp_path / "night.sqlite")},
                "broker": broker_config(fake),
                "schools": [[trust, sid, sid] for trust, sid in SCHOOLS],
                "deauthorised": ["D"],
            },
        )
        host = ConfiguredHost()
        import_schools(host, fake, at=DAY0)
        yield World(fake=fake, host=host, config=config, feeds=feeds)
        host.close()


def test_a_night_in_process_reports_per_trust_and_in_total(world: World) -> None:
    world.fake.set_school("A", renamed(world.feeds["A"], 1, 2))
    world.fake.set_school("C", renamed(world.feeds["C"], 5))
    before = load_watermark(world.store, "A", "wonde")
    run_id = new_run_id(datetime(2026, 3, 3, 2, tzinfo=UTC))
    seen: list[str] = []

    report = run_in_process(
        world.host, jobs_for(world.host, run_id), progress=lambda r: seen.append(r.school_id)
    )

    assert sorted(seen) == ["A", "B", "C", "D"]
    assert report.finished
    total = report.total
    assert (total.schools, total.done, total.skipped, total.failed) == (4, 3, 1, 0)
    assert total.pupils_changed == 3
    lines = {line.trust_id: line for line in report.trusts()}
    assert (lines["T1"].done, lines["T1"].pupils_changed) == (2, 2)
    assert (lines["T2"].done, lines["T2"].skipped, lines["T2"].pupils_changed) == (1, 1, 1)
    (skipped,) = report.problems()
    assert (skipped.school_id, skipped.status, skipped.problem) == (
        "D",
        JobStatus.SKIPPED,
        "deauthorised",
    )
    assert "deauthorised" in skipped.reason
    assert world.renamed_pupils("A") == 2
    assert world.renamed_pupils("C") == 1
    after = load_watermark(world.store, "A", "wonde")
    assert before is not None
    assert after is not None
    assert after.taken_at > before.taken_at
    assert [r["trust_id"] for r in report.to_rows()] == ["T1", "T2", "TOTAL"]
    as_json = json.loads(report.to_json())
    assert as_json["total"]["done"] == 3
    assert as_json["problems"][0]["school_id"] == "D"
    assert "4 of 4 schools finished" in report.progress()
    again = night_report(world.store)  # read back by another reader: the newest night
    assert again.run_id == run_id
    assert again.total == total


def test_the_guard_skips_a_school_and_is_never_retried(world: World) -> None:
    gutted = attrs.evolve(world.feeds["B"], pupils=world.feeds["B"].pupils[:20])
    world.fake.set_school("B", gutted)  # half the pupils deleted at the broker
    waits: list[float] = []
    before = world.pupil_names("B")

    report = run_in_process(
        world.host,
        [SchoolJob(run_id="n1", school_id="B", trust_id="T1")],
        retry=JobRetry(attempts=3),
        sleep=waits.append,
    )

    (record,) = report.jobs
    assert (record.status, record.problem, record.attempts) == (JobStatus.SKIPPED, "guard", 1)
    assert "Out of sync" in record.reason
    assert not record.transient
    assert waits == []
    assert world.pupil_names("B") == before  # nothing changed
    assert dead_letters(world.store) == []


def test_a_broker_storm_is_retried_with_backoff_then_done(world: World) -> None:
    world.fake.set_school("A", renamed(world.feeds["A"], 3))
    world.fake.inject("503", endpoint="/students", times=2)  # both HTTP attempts of the first run
    waits: list[float] = []

    report = run_in_process(
        world.host,
        [SchoolJob(run_id="n1", school_id="A", trust_id="T1")],
        retry=JobRetry(attempts=3, wait_initial=30),
        sleep=waits.append,
    )

    (record,) = report.jobs
    assert (record.status, record.attempts, record.pupils_changed) == (JobStatus.DONE, 2, 1)
    assert waits == [30.0]


def test_a_refusal_fails_at_once_into_the_dead_letters(
    world: World, request: pytest.FixtureRequest
) -> None:
    world.add_unknown_school()
    host = ConfiguredHost()
    request.addfinalizer(host.close)
    waits: list[float] = []

    record = run_school(SchoolJob(run_id="n1", school_id="E", trust_id="T3"), host)
    assert record.status is JobStatus.FAILED
    assert record.problem == "broker"
    report = run_in_process(
        host, [SchoolJob(run_id="n2", school_id="E", trust_id="T3")], sleep=waits.append
    )
    assert report.total.failed == 1
    assert waits == []
    listed = dead_letters(world.store)
    assert [(j.run_id, j.school_id) for j in listed] == [("n2", "E"), ("n1", "E")]
    assert "HTTP 404" in listed[0].reason
    assert not listed[0].transient

    runner = CliRunner()
    out = runner.invoke(cli, ["nightly", "dead-letters", "--host", HOST, "--json"])
    assert out.exit_code == 0, out.output
    assert [d["school"] for d in json.loads(out.output)["dead_letters"]] == ["E", "E"]
    out = runner.invoke(cli, ["nightly", "report", "--host", HOST, "--run", "n2"])
    assert out.exit_code == 0
    assert "TOTAL" in out.output
    assert "HTTP 404" in out.output
    out = runner.invoke(cli, ["nightly", "status", "--host", HOST, "--json"])
    assert json.loads(out.output)["total"]["failed"] == 1


def test_a_night_on_a_pool_of_two_worker_processes(world: World) -> None:
    for sid in ("A", "B", "C"):
        world.fake.set_school(sid, renamed(world.feeds[sid], 0, 7))
    seen: list[Any] = []

    report = run_pool(HOST, jobs_for(world.host, "pool-night"), workers=2, progress=seen.append)

    assert len(seen) == 4
    assert (report.total.done, report.total.skipped, report.total.pupils_changed) == (3, 1, 6)
    for sid in ("A", "B", "C"):
        assert world.renamed_pupils(sid) == 2


def test_cli_runs_a_night_and_exits_1_when_a_school_failed(world: World) -> None:
    world.add_unknown_school()
    out = CliRunner().invoke(
        cli, ["nightly", "run", "--host", HOST, "--run-id", "cli-night", "--attempts", "1"]
    )
    assert out.exit_code == 1, out.output
    assert "night cli-night: 5 of 5 schools finished (done 3, skipped 1, failed 1)" in out.output
    assert "E (trust T3): failed, broker, 1 attempt" in out.output
    assert "HTTP 404" in out.output


class _DownStore:
    def unit_of_work(self) -> Any:
        raise StorageError("PostgreSQL could not be reached (connection refused)")

    def close(self) -> None:
        return None


class _StoreDown(ConfiguredHost):
    def store(self) -> Any:
        return _DownStore()


def test_a_store_that_cannot_be_reached_is_a_transient_failure(world: World) -> None:
    host = _StoreDown()
    job = SchoolJob(run_id="n1", school_id="A", trust_id="T1")

    first = run_school(job, host, final_attempt=False)
    last = run_school(job, host, final_attempt=True)

    assert (first.status, first.problem, first.transient) == (JobStatus.RETRYING, "storage", True)
    assert (last.status, last.transient) == (JobStatus.FAILED, True)
    assert "could not be reached" in last.reason


def _stamped(run_id: str, school_id: str, **stamps: datetime | None) -> Any:
    from schoolsync.nightly import NightlyJob

    return NightlyJob(
        id=f"{run_id}:{school_id}",
        run_id=run_id,
        school_id=school_id,
        status=JobStatus.DONE if stamps.get("finished_at") else JobStatus.QUEUED,
        **stamps,
    )


def test_old_nights_are_pruned_whole_and_the_rest_kept(store: Store) -> None:
    from datetime import timedelta

    from schoolsync.nightly import prune_nights
    from schoolsync.records.tables import NIGHTLY_JOBS

    now = datetime(2026, 6, 1, 3, tzinfo=UTC)
    day = timedelta(days=1)
    with store.unit_of_work() as uow:
        uow.repository(NIGHTLY_JOBS).put_many(
            [
                _stamped("n-old", "A", queued_at=now - 40 * day, finished_at=now - 40 * day),
                _stamped("n-old", "B", queued_at=now - 40 * day),  # never ran: still old
                _stamped("n-older", "A", finished_at=now - 90 * day),
                # one school finished yesterday: the night is recent, kept whole
                _stamped("n-straddle", "A", finished_at=now - 45 * day),
                _stamped("n-straddle", "B", started_at=now - day),
                _stamped("n-new", "A", finished_at=now - 2 * day),
                _stamped("n-unstamped", "A"),
            ]
        )
        uow.commit()

    removed = prune_nights(store, older_than=30 * day, now=now)

    assert removed == ["n-older", "n-old"]  # oldest first
    with store.unit_of_work() as uow:
        left = sorted(j.id for j in uow.repository(NIGHTLY_JOBS).list())
    assert left == ["n-new:A", "n-straddle:A", "n-straddle:B", "n-unstamped:A"]
    assert night_report(store, "n-old").jobs == ()
    assert len(night_report(store, "n-straddle").jobs) == 2
    assert prune_nights(store, older_than=30 * day, now=now) == []
    with pytest.raises(ValueError):
        prune_nights(store, older_than=-day, now=now)
    with pytest.raises(ValueError):
        prune_nights(store, older_than=day, now=now.replace(tzinfo=None))


def test_cli_prunes_old_nights(world: World) -> None:
    from datetime import timedelta

    from schoolsync.records.tables import NIGHTLY_JOBS

    long_ago = datetime.now(UTC) - timedelta(days=60)
    with world.store.unit_of_work() as uow:
        uow.repository(NIGHTLY_JOBS).put(_stamped("n-ancient", "A", finished_at=long_ago))
        uow.commit()
    run_in_process(world.host, jobs_for(world.host, "n-today"))

    out = CliRunner().invoke(
        cli, ["nightly", "prune", "--host", HOST, "--older-than", "30", "--json"]
    )

    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["pruned"] == ["n-ancient"]
    assert night_report(world.store, "n-today").total.schools == 4
    assert night_report(world.store, "n-ancient").jobs == ()
    out = CliRunner().invoke(cli, ["nightly", "prune", "--host", HOST, "--older-than", "30"])
    assert "pruned 0 night(s) older than 30 day(s)" in out.output


def test_a_nightly_delta_loads_only_the_records_it_names(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the school's records was 83 % of a job: a delta that changes two linked pupils
    reads those two, not the whole school; a joiner (a record not linked) reads everything."""
    from schoolsync.sync.state import SchoolRecords

    whole: list[str] = []
    load = SchoolRecords.load

    def counted(uow: Any, school_id: str) -> SchoolRecords:
        whole.append(school_id)
        return load(uow, school_id)

    monkeypatch.setattr(SchoolRecords, "load", counted)
    world.fake.set_school("A", renamed(world.feeds["A"], 1, 2))

    record = run_school(SchoolJob(run_id="n1", school_id="A", trust_id="T1"), world.host)

    assert (record.status, record.pupils_changed) == (JobStatus.DONE, 2)
    assert world.renamed_pupils("A") == 2
    assert whole == []
    joiner = attrs.evolve(world.feeds["B"].pupils[0], id="J1", mis_id="J1", upn=None)
    feed_b = world.feeds["B"]
    world.fake.set_school("B", attrs.evolve(feed_b, pupils=(*feed_b.pupils, joiner)))

    record = run_school(SchoolJob(run_id="n1", school_id="B", trust_id="T1"), world.host)

    assert (record.status, record.pupils_changed) == (JobStatus.DONE, 1)
    assert whole == ["B"]
