"""Benchmark: broker fetches from the loopback fakes (issue 14).

1. One 1,500-pupil, 150-staff, 300-class school fetched with 100-per-page paging, per provider:
   target under 2 s. Memory flat in pages: the same school fetched at 100 and at 25 per page
   (4x the pages) must have about the same traced peak. OneRoster, whose collections are read
   at once, is also timed one collection at a time (``concurrency=1``) and without pages asked
   for ahead (``prefetch=0``), all again with the fake answering 20 ms late (a broker across a
   network rather than on loopback).
2. 100 schools fetched concurrently (16 threads) through one shared credential (Wonde) under a
   rate limit: the fake counts requests per credential in every window (never above the
   limit), and the run time must be within 10 % of the limit's minimum. The real limits are
   per minutes (Assembly: 600 per 300 s), so the run uses a scaled-down limit of 100 requests
   per 2 s; the minimum for N requests is floor((N - 1) / 100) * 2 s. The fake serves from a
   process of its own (a real broker is another machine: in-process, the fake's work shares
   the client's CPU and GIL), and one broker client serves every school (a host with one app
   token). Each run also times the setup used before 2026-12-07 (fake in-process, a broker
   per school sharing only the limit) beside it, and a third where the broker first lists the
   approved schools (``WondeBroker.schools()``: one request for every school's region instead
   of one each, inside the timed run). Run ``--runs N`` times (default 3), each line with the
   machine's load average before and after.

Usage: ``python benchmarks/bench_brokers.py [--quick] [--runs N] [--many-only]``
"""

from __future__ import annotations

import math
import os
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import attrs

from schoolsync.brokers import RateLimit, RateLimits
from schoolsync.clock import FixedClock
from schoolsync.people import SchoolClass
from schoolsync.ports import MisSnapshot
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.brokers import (
    FakeAssembly,
    FakeOneRoster,
    FakeWonde,
    FakeXporter,
    school_with_registration_groups,
)

CLOCK = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
YEARS = ("7", "8", "9", "10", "11")


def big_school(pupils: int, staff: int, classes: int) -> MisSnapshot:
    """A secondary school: *classes* teaching groups (subject sets per year), each pupil in
    five of their year's, each member of staff teaching two; plus registration groups."""
    base = sample_snapshot("s1", pupils=pupils, staff=staff, year_codes=YEARS, classes_per_year=1)
    per_year = classes // len(YEARS)
    sets = [
        SchoolClass(id=f"{y}-{n:02d}", school_id="s1", name=f"{y}/Set{n}", mis_id=f"{y}-{n:02d}",
                    year_group_ids=(f"Y{y}",), subject=f"Subject {n % 12}")
        for y in YEARS for n in range(per_year)
    ]  # fmt: skip
    by_year = {y: [c.id for c in sets if c.id.startswith(f"{y}-")] for y in YEARS}
    people = tuple(
        attrs.evolve(p, class_ids=tuple(by_year[p.year_code or "7"][(i + k * 7) % per_year]
                                        for k in range(5)))
        for i, p in enumerate(base.pupils)
    )  # fmt: skip
    teachers = tuple(
        attrs.evolve(t, class_ids=(sets[(2 * i) % len(sets)].id, sets[(2 * i + 1) % len(sets)].id))
        for i, t in enumerate(base.staff)
    )
    school = attrs.evolve(base, pupils=people, staff=teachers, classes=tuple(sets))
    return school_with_registration_groups(school, per_group=30)


def fakes(snapshot: MisSnapshot) -> list[tuple[str, object, dict[str, int]]]:
    schools = {"K1": snapshot}
    return [
        ("xporter", FakeXporter(secrets={"K1": "s"}, schools=schools, clock=CLOCK), {"page_size": 100}),
        ("wonde", FakeWonde(token="t", schools=schools, clock=CLOCK), {"per_page": 100}),
        ("assembly", FakeAssembly(client_id="c", client_secret="s", refresh_tokens={"K1": "r"},
                                  schools=schools, clock=CLOCK, rate_limit=None), {"per_page": 100}),
        ("oneroster", FakeOneRoster(client_id="c", client_secret="s", schools=schools, clock=CLOCK,
                                    count_headers=False), {"limit": 100}),
    ]  # fmt: skip


def timed(conn: object, runs: int = 3) -> tuple[list[float], int]:
    """*runs* timed fetches after a warm one; the times and the last fetch's request count."""
    conn.fetch()  # type: ignore[attr-defined]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fetched = conn.fetch()  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return times, fetched.requests


def one_school(quick: bool) -> None:
    pupils, staff, classes = (300, 30, 60) if quick else (1500, 150, 300)
    snapshot = big_school(pupils, staff, classes)
    regs = sum(1 for c in snapshot.classes if c.description)
    print(
        f"one school: {pupils} pupils, {staff} staff, {len(snapshot.classes) - regs} teaching "
        f"groups + {regs} registration groups, 100 per page; load average {load()}"
    )
    for name, fake, options in fakes(snapshot):
        with fake:  # type: ignore[attr-defined]
            limit = (
                {"rate_limit": RateLimit(requests=10**6, period=1)} if name == "assembly" else {}
            )
            conn = fake.connect("K1", **options, **limit)  # type: ignore[attr-defined]
            times, requests = timed(conn)
            peaks = []
            for size in (100, 25):
                other = fake.connect("K1", **{next(iter(options)): size}, **limit)  # type: ignore[attr-defined]
                tracemalloc.start()
                other.fetch()
                peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
                tracemalloc.stop()
                other.close()
            conn.close()
        print(
            f"  {name:9s} {min(times):.2f}-{max(times):.2f} s ({requests} requests); "
            f"traced peak {peaks[0]:.1f} MiB at 100/page, {peaks[1]:.1f} MiB at 25/page (4x pages)"
        )
    for latency in (0.0, 0.02):
        fake = FakeOneRoster(client_id="c", client_secret="s", schools={"K1": snapshot},
                             clock=CLOCK, count_headers=False, latency=latency)  # fmt: skip
        with fake:
            for concurrency, prefetch in ((1, 0), (4, 0), (4, 2), (4, 4)):
                conn = fake.connect("K1", limit=100, concurrency=concurrency, prefetch=prefetch)
                times, requests = timed(conn)
                conn.close()
                print(
                    f"  oneroster, answers {latency * 1000:.0f} ms late, {concurrency} "
                    f"collection(s) at once, {prefetch} page(s) ahead: "
                    f"{min(times):.2f}-{max(times):.2f} s ({requests} requests)"
                )


def load() -> str:
    """The 1-minute load average (other engineers' test suites share these 2 CPUs)."""
    return f"{os.getloadavg()[0]:.1f}"


def many_schools(
    quick: bool, run: int = 1, *, process: bool = True, shared: bool = True, listed: bool = False
) -> None:
    """The 100-school run. *process*: the fake serves from a process of its own (a real broker
    is another machine; in-process, its work shares the client's GIL). *shared*: one broker
    client for every school (a host with one app token; its connections are reused across
    schools) rather than one per school sharing only the limit (the setup before 2026-12-07). *listed*: the broker lists the
    approved schools first (``WondeBroker.schools()``, inside the timed run), so no school
    asks for its region."""
    schools = 20 if quick else 100
    limit = RateLimit(requests=100, period=2.0)
    served = {f"W{n:03d}": sample_snapshot(f"w{n}", pupils=120, staff=10, year_codes=("7", "8"),
                                            classes_per_year=2) for n in range(schools)}  # fmt: skip
    with FakeWonde(token="shared", schools=served, clock=CLOCK, rate_limit=(100, 2.0),
                   process=process) as fake:  # fmt: skip
        limits = RateLimits()
        if shared:
            broker = fake.broker(rate_limit=limit, rate_limits=limits)
            conns = [broker.school(key, school_id=fake.school_id(key), per_page=50)
                     for key in served]  # fmt: skip
        else:
            conns = [fake.connect(key, per_page=50, rate_limit=limit, rate_limits=limits)
                     for key in served]  # fmt: skip
        before = load()
        start = time.perf_counter()
        if listed:
            broker.schools()
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda c: c.fetch(), conns))
        elapsed = time.perf_counter() - start
        for c in conns:
            c.close()
        log = fake.log
        requests = len(log)
        worst = fake.max_in_window(limit.period)
        rejected = sum(1 for r in log if r.status == 429)
    minimum = math.floor((requests - 1) / limit.requests) * limit.period
    setup = ("fake in its own process" if process else "fake in-process") + (
        ", one broker for all schools" if shared else ", a broker per school"
    )
    if listed:
        setup += ", schools listed first"
    print(
        f"run {run} ({setup}), load average {before} -> {load()}: "
        f"{schools} schools through one credential, limit {limit.requests} per {limit.period} s "
        f"(scaled down), 16 threads: {requests} requests in {elapsed:.2f} s; the limit's minimum "
        f"{minimum:.2f} s (+{(elapsed / minimum - 1) * 100:.1f} %); most in any window at the "
        f"fake: {worst} (limit {limit.requests}); 429s: {rejected}; "
        f"pupils fetched: {sum(len(r.snapshot.pupils) for r in results)}"
    )


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else (1 if quick else 3)
    if "--many-only" not in argv:
        one_school(quick)
    for run in range(1, runs + 1):
        many_schools(quick, run)
        many_schools(quick, run, process=False, shared=False)
        many_schools(quick, run, listed=True)


if __name__ == "__main__":
    main(sys.argv[1:])
