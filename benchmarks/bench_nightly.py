"""The nightly sync at scale (#19): schools x pupils served by the loopback fake Wonde broker
into PostgreSQL, run by the job engine (procrastinate) with 1 and then 2 worker processes.

    python benchmarks/run.py nightly            # 2,400 schools x 1,500 pupils (3.6 M pupils)
    python benchmarks/run.py --quick nightly    # 20 schools x 300 pupils, a smoke run
    python benchmarks/bench_nightly.py --schools 2400 --pupils 1500 --workers 1,2 [--keep]

Needs a PostgreSQL server: ``SCHOOLSYNC_BENCH_POSTGRES_DSN`` (or the tests'
``SCHOOLSYNC_TEST_POSTGRES_DSN``); a database ``schoolsync_bench_nightly`` is made there.

Seeding: one template school is imported the ordinary way (full fetch from the fake, match,
plan, apply, watermark), with app ids that contain the school id; its rows are then copied out
(``COPY ... TO``) and written back once per school with the school id replaced (``COPY ...
FROM``), so 3.6 M pupils and their links load in minutes rather than hours.

Each night: 1 % of each school's pupils change a name in the fake broker; the schools are
queued; W workers (``schoolsync nightly worker --once``) run until the queue is empty. Reported:
the wall time from the workers' start to the last one's exit, pupils per second (pupils in the
synced schools / wall time), the speed-up from the second worker, and (in this process, on a
few schools) where the time of one school goes, from the job's own timings: fetch, load (the
records the delta names), match and plan, apply, commit.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

ADMIN_DSN_ENV = ("SCHOOLSYNC_BENCH_POSTGRES_DSN", "SCHOOLSYNC_TEST_POSTGRES_DSN")
DB = "schoolsync_bench_nightly"
SCHEMA = "night"
TEMPLATE = "TPL00000"
TOKEN = "bench-token"


def _admin_dsn() -> str:
    for name in ADMIN_DSN_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return "postgresql://postgres@127.0.0.1:55432/postgres"


def _db_dsn(admin: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = conninfo_to_dict(admin)
    parts["dbname"] = DB
    return make_conninfo(**parts)


def school_id(n: int) -> str:
    return f"S{n:05d}"


def trust_of(n: int) -> str:
    return f"T{n // 10:04d}"  # ten schools per trust


def _template_snapshot(pupils: int) -> Any:
    from schoolsync.sync.sample import sample_snapshot

    years = ("7", "8", "9", "10", "11")
    return sample_snapshot(
        TEMPLATE,
        pupils=pupils,
        staff=max(10, pupils // 25),
        year_codes=years,
        classes_per_year=min(8, max(1, pupils // (len(years) * 30))),
    )


def _options() -> Any:
    from schoolsync.sync.plans import PlanOptions

    return PlanOptions(new_id=lambda school, kind, key: f"{school}.{kind.value}.{key}")


def seed(admin: str, schools: int, pupils: int) -> tuple[str, Any]:
    """A fresh database with *schools* copies of the template school; returns its DSN and the
    template's MIS snapshot."""
    import psycopg

    from schoolsync.brokers import HttpSettings
    from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
    from schoolsync.records.tables import TABLES
    from schoolsync.storage.postgres import PostgresStore
    from schoolsync.sync import SchoolRecords, apply, plan
    from schoolsync.testing.brokers import FakeWonde
    from schoolsync.testing.nightly import authorised_connection
    from schoolsync.trusts import School

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    dsn = _db_dsn(admin)
    store = PostgresStore(dsn, schema=SCHEMA)
    snap = _template_snapshot(pupils)
    started = time.perf_counter()
    with FakeWonde(token=TOKEN, schools={TEMPLATE: snap}) as fake:
        from schoolsync.brokers import WondeBroker
        from schoolsync.brokers.sync import commit_watermark

        source = WondeBroker(TOKEN, base_url=fake.url, settings=HttpSettings()).school(
            TEMPLATE, school_id=TEMPLATE
        )
        fetched = source.fetch()
        mis = fetched.snapshot
        at = datetime.now(UTC)
        with store.unit_of_work() as uow:
            uow.schools.add(
                School(id=TEMPLATE, name="School", email_pattern="{forename}.{surname}@s.example")
            )
            uow.commit()
            current = SchoolRecords.load(uow, TEMPLATE)
        reviews = [
            match_year_groups(mis.year_groups, []),
            match_classes(mis.classes, []),
            match_staff(mis.staff, []).select_all_new(),
            match_pupils(mis.pupils, []),
        ]
        apply(
            plan(reviews, current, at=at, options=_options()),
            store,
            connection=authorised_connection(TEMPLATE),
            at=at,
        )
        commit_watermark(store, TEMPLATE, fetched, at=at)
    store.close()
    template_s = time.perf_counter() - started
    print(f"template school imported in {template_s:.1f} s", flush=True)

    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {SCHEMA}")
        dumps: dict[str, bytes] = {}
        for table in TABLES:
            where = "id" if table.name == "schools" else "school_id"
            if table.name != "schools" and not table.school_scoped:
                continue
            buf = io.BytesIO()
            with conn.cursor().copy(
                f"COPY (SELECT * FROM {table.name} WHERE {where} = '{TEMPLATE}') TO STDOUT"
            ) as copy:
                for chunk in copy:
                    buf.write(chunk)
            if buf.getvalue():
                dumps[table.name] = buf.getvalue()
            conn.execute(f"DELETE FROM {table.name} WHERE {where} = %s", (TEMPLATE,))
        rows = {t: d.count(b"\n") for t, d in dumps.items()}
        print(f"template rows per school: {rows}", flush=True)
        batch = 50
        for first in range(1, schools + 1, batch):
            last = min(schools, first + batch - 1)
            with conn.transaction():
                for table, data in dumps.items():
                    with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                        for n in range(first, last + 1):
                            copy.write(data.replace(TEMPLATE.encode(), school_id(n).encode()))
            if last % 500 == 0 or last == schools:
                print(
                    f"  seeded {last:,} schools ({time.perf_counter() - started:.0f} s)", flush=True
                )
        conn.execute("ANALYZE")
    print(
        f"seeded {schools:,} schools x {pupils:,} pupils = {schools * pupils:,} pupils in "
        f"{time.perf_counter() - started:.0f} s (COPY from the template)",
        flush=True,
    )
    return dsn, snap


def _changed(snap: Any, n: int, night: int, share: float) -> Any:
    """School *n*'s feed in the fake on *night*: every pupil changed on nights 1..night (so
    earlier changes stay served, unchanged, and are not in the delta)."""
    from schoolsync.ports import MisSnapshot

    sid = school_id(n)
    per_night = max(1, round(len(snap.pupils) * share))
    pupils = []
    for k in range(1, night + 1):
        for i in range(per_night):
            p = snap.pupils[((k - 1) * per_night + i) % len(snap.pupils)]
            pupils.append(attrs.evolve(p, school_id=sid, forename=f"{p.forename}{'x' * k}"))
    by_id = {p.id: p for p in pupils}  # a pupil changed again on a later night: its last form
    return MisSnapshot(
        school_id=sid,
        taken_at=None,
        pupils=tuple(by_id.values()),
        staff=(),
        classes=(),
        year_groups=(),
    )


def _worker_command(dsn: str) -> list[str]:
    script = Path(sys.executable).with_name("schoolsync")
    base = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from schoolsync.cli import main; main()"]
    )
    return [
        *base,
        "nightly",
        "worker",
        "--dsn",
        dsn,
        "--schema",
        "jobs",
        "--once",
        "--heartbeat",
        "5",
    ]


def night(
    dsn: str, fake: Any, snap: Any, schools: int, night_no: int, workers: int, config: Path
) -> dict[str, Any]:
    from schoolsync.nightly import JobRetry, SchoolJob, night_report
    from schoolsync.nightly.engine import enqueue_night, nightly_app
    from schoolsync.testing.nightly import ConfiguredHost

    for n in range(1, schools + 1):
        fake.set_school(school_id(n), _changed(snap, n, night_no, 0.01))
    run_id = f"bench-night-{night_no}"
    jobs = [
        SchoolJob(run_id=run_id, school_id=school_id(n), trust_id=trust_of(n))
        for n in range(1, schools + 1)
    ]
    app = nightly_app(dsn, schema="jobs", retry=JobRetry(attempts=3, wait_initial=1))
    started = time.perf_counter()
    enqueue_night(app, "schoolsync.testing.nightly:ConfiguredHost", jobs)
    queued_s = time.perf_counter() - started
    requests_before = len(fake.log)
    started = time.perf_counter()
    procs = [subprocess.Popen(_worker_command(dsn), env=os.environ.copy()) for _ in range(workers)]
    for proc in procs:
        proc.wait()
    wall = time.perf_counter() - started
    host = ConfiguredHost(json.loads(config.read_text()))
    report = night_report(host.store(), run_id)
    host.store().close()
    t = report.total
    return {
        "night": night_no,
        "workers": workers,
        "schools": schools,
        "queued_s": round(queued_s, 2),
        "wall_s": round(wall, 2),
        "done": t.done,
        "failed": t.failed,
        "skipped": t.skipped,
        "pupils_changed": t.pupils_changed,
        "broker_requests": len(fake.log) - requests_before,
        "schools_per_s": round(schools / wall, 2),
        "pupils_per_s": round(schools * len(snap.pupils) / wall),
    }


PHASES = ("fetch", "load", "plan", "apply", "commit")


def phases(
    config: Path, fake: Any, snap: Any, schools: Sequence[int], night_no: int
) -> dict[str, float]:
    """Mean seconds per school for each phase of the job itself (``run_school``'s own
    timings: fetch outside the transaction; then, under the school's lock, load the records
    the delta names, match and plan, apply with the soft deletes, watermark and job record,
    commit), run here on *schools* (committed)."""
    from schoolsync.nightly import JobStatus, SchoolJob, run_school
    from schoolsync.testing.nightly import ConfiguredHost

    host = ConfiguredHost(json.loads(config.read_text()))
    totals = dict.fromkeys(PHASES, 0.0)
    for n in schools:
        fake.set_school(school_id(n), _changed(snap, n, night_no, 0.01))
    for n in schools:
        job = SchoolJob(
            run_id=f"bench-phases-{night_no}", school_id=school_id(n), trust_id=trust_of(n)
        )
        record = run_school(job, host)
        if record.status is not JobStatus.DONE:
            raise RuntimeError(f"school {job.school_id}: {record.status.value} ({record.reason})")
        for key in PHASES:
            totals[key] += record.timings.get(key, 0.0)
    host.close()
    return {k: v / len(schools) for k, v in totals.items()}


def load_ab(config: Path, fake: Any, snap: Any, night_no: int, runs: int = 21) -> dict[str, float]:
    """Median ms of loading school 1 for its next delta: the whole school
    (``SchoolRecords.load``) against what the delta names (``load_for_delta``), interleaved in
    this process; the two plans must be equal."""
    import statistics

    from schoolsync.brokers.sync import load_watermark
    from schoolsync.sync.incremental import (
        delta_of,
        incremental_plan,
        load_for_delta,
        read_snapshot,
    )
    from schoolsync.sync.state import SchoolRecords
    from schoolsync.testing.nightly import ConfiguredHost

    host = ConfiguredHost(json.loads(config.read_text()))
    store, sid = host.store(), school_id(1)
    fake.set_school(sid, _changed(snap, 1, night_no, 0.01))
    fetched = host.source(sid).fetch(load_watermark(store, sid, "wonde"))  # type: ignore[attr-defined]
    named, delta = read_snapshot(fetched, sid), delta_of(fetched)
    times: dict[str, list[float]] = {"whole": [], "named": []}
    for i in range(runs):
        for which in ("whole", "named") if i % 2 else ("named", "whole"):
            with store.unit_of_work() as uow:
                started = time.perf_counter()
                if which == "whole":
                    SchoolRecords.load(uow, sid)
                elif load_for_delta(uow, sid, named, delta) is None:
                    raise RuntimeError("the delta needs the whole school")
                times[which].append(time.perf_counter() - started)
    at = datetime.now(UTC)
    with store.unit_of_work() as uow:
        whole = incremental_plan(named, SchoolRecords.load(uow, sid), at=at, delta=delta)
        narrow = load_for_delta(uow, sid, named, delta)
        assert narrow is not None
        if incremental_plan(named, narrow, at=at, delta=delta) != whole:
            raise RuntimeError("the narrow load planned something else")
    host.close()
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench_nightly")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--schools", type=int)
    parser.add_argument("--pupils", type=int)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--phase-schools", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--reuse", action="store_true", help="reuse a seeded database")
    parser.add_argument("--seed-only", action="store_true", help="seed, keep, and stop")
    parser.add_argument(
        "--first-night", type=int, default=1, help="with --reuse: the nights run so far + 1"
    )
    args = parser.parse_args(argv)
    schools = args.schools or (20 if args.quick else 2400)
    pupils = args.pupils or (300 if args.quick else 1500)
    workers = [int(w) for w in args.workers.split(",")]

    from schoolsync.nightly.engine import apply_schema, nightly_app
    from schoolsync.testing.brokers import FakeWonde
    from schoolsync.testing.nightly import write_config

    admin = _admin_dsn()
    if args.reuse:
        dsn, snap = _db_dsn(admin), _template_snapshot(pupils)
    else:
        dsn, snap = seed(admin, schools, pupils)
    if args.seed_only:
        return
    apply_schema(nightly_app(dsn, schema="jobs"), schema="jobs")
    results = []
    with FakeWonde(token=TOKEN) as fake, tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp) / "host.json",
            {
                "store": {"postgres": dsn, "schema": SCHEMA},
                "broker": {"url": fake.url, "token": TOKEN, "read_timeout": 30, "attempts": 5},
                "schools": [
                    [trust_of(n), school_id(n), school_id(n)] for n in range(1, schools + 1)
                ],
            },
        )
        night_no = args.first_night - 1
        for w in workers:
            night_no += 1
            result = night(dsn, fake, snap, schools, night_no, w, config)
            results.append(result)
            print(json.dumps(result), flush=True)
        night_no += 1
        sample = range(1, min(schools, args.phase_schools) + 1)
        per_phase = phases(config, fake, snap, sample, night_no)
        ab = load_ab(config, fake, snap, night_no + 1)
    total = sum(per_phase.values())
    print(f"\nper school ({len(sample)} schools of {pupils:,} pupils, in one process):")
    for key, value in per_phase.items():
        print(f"  {key:<11} {value * 1000:8.1f} ms  {value / total:5.1%}")
    print(f"  {'total':<11} {total * 1000:8.1f} ms")
    print(
        f"loading one school for its delta (median of 21, interleaved): the whole school "
        f"{ab['whole']:.1f} ms, what the delta names {ab['named']:.1f} ms "
        f"({ab['whole'] / ab['named']:.1f}x)"
    )
    print("\nworkers  wall s  schools/s  pupils/s  pupils changed  done/failed")
    for r in results:
        print(
            f"{r['workers']:>7}  {r['wall_s']:>6.1f}  {r['schools_per_s']:>9.2f}  "
            f"{r['pupils_per_s']:>8,}  {r['pupils_changed']:>14,}  {r['done']}/{r['failed']}"
        )
    if len(results) >= 2:
        one = next(r for r in results if r["workers"] == 1)
        for r in results:
            if r["workers"] > 1:
                print(f"speed-up with {r['workers']} workers: {one['wall_s'] / r['wall_s']:.2f}x")
        best = max(results, key=lambda r: r["workers"])
        per_worker = best["schools_per_s"] / best["workers"]
        hour = 24_000 / (per_worker * 8) / 60
        print(
            f"projection: 24,000 schools on 8 workers at {per_worker:.2f} schools/s each "
            f"(this run's per-worker rate, linear in workers): {hour:.0f} minutes"
        )
    if not args.keep:
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main(sys.argv[1:])
