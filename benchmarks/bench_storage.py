"""Storage benchmark: write 100,000 pupils, then load one 1,500-pupil school.

Targets (issue 3): writing 100,000 pupils through SqliteStore in under 10 s; loading a
1,500-pupil school in under 0.2 s. PostgreSQL figures are measured beside them when a server
is given (``--postgres-dsn`` or ``SCHOOLSYNC_TEST_POSTGRES_DSN``); the benchmark uses a schema
of its own and drops it afterwards.

    python benchmarks/bench_storage.py            # full size
    python benchmarks/bench_storage.py --quick    # 10,000 pupils, a few seconds
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from schoolsync.identifiers import Upn, upn_check_letter
from schoolsync.people import Gender, Pupil
from schoolsync.ports import Store
from schoolsync.storage.sqlite import SqliteStore

SCHOOL_SIZE = 1_500


def make_pupils(total: int) -> list[Pupil]:
    """*total* realistic pupils in schools of 1,500 (UPNs, birth dates, classes)."""
    pupils = []
    for i in range(total):
        body = f"8201{i:08d}"
        pupils.append(
            Pupil(
                id=f"pupil-{i:07d}",
                school_id=f"school-{i // SCHOOL_SIZE:03d}",
                forename=("Olivia", "Noah", "Amelia", "Muhammad", "Zoë")[i % 5],
                surname=("Smith", "Jones", "Williams", "Ó Súilleabháin", "Patel")[i % 5],
                mis_id=str(100_000 + i),
                upn=Upn.parse(upn_check_letter(body) + body),
                date_of_birth=date(2010 + i % 8, 1 + i % 12, 1 + i % 28),
                gender=(Gender.FEMALE, Gender.MALE)[i % 2],
                pupil_premium=i % 4 == 0,
                year_code=str(1 + i % 11),
                class_ids=(f"class-{i % 60}",),
            )
        )
    return pupils


def measure(label: str, store: Store, pupils: list[Pupil]) -> dict[str, float]:
    """Write *pupils* in one unit of work, then time loading one school (best of 5)."""
    started = time.perf_counter()
    with store.unit_of_work() as uow:
        uow.pupils.put_many(pupils)
        uow.commit()
    write = time.perf_counter() - started
    school = pupils[len(pupils) // 2].school_id
    loads = []
    for _ in range(5):
        started = time.perf_counter()
        with store.unit_of_work() as uow:
            loaded = uow.pupils.list(school_id=school)
        loads.append(time.perf_counter() - started)
    assert len(loaded) == min(SCHOOL_SIZE, len(pupils))
    started = time.perf_counter()
    with store.unit_of_work() as uow:
        uow.pupils.put_many(loaded)  # a sync re-writing one school
        uow.commit()
    rewrite = time.perf_counter() - started
    print(
        f"{label:<11} write {len(pupils):>7,} pupils: {write:6.2f} s "
        f"({len(pupils) / write:>8,.0f}/s) | load a {len(loaded):,}-pupil school: "
        f"{min(loads) * 1000:6.1f} ms (median {statistics.median(loads) * 1000:.1f} ms) | "
        f"re-write it: {rewrite * 1000:6.1f} ms"
    )
    return {"write": write, "load": min(loads), "rewrite": rewrite}


def _with_postgres(dsn: str, run: Callable[[Store], None]) -> None:
    import psycopg

    from schoolsync.storage.postgres import PostgresStore

    schema = f"bench_{secrets.token_hex(4)}"
    try:
        with PostgresStore(dsn, schema=schema) as store:
            run(store)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 pupils instead of 100,000")
    parser.add_argument(
        "--postgres-dsn",
        default=os.environ.get("SCHOOLSYNC_TEST_POSTGRES_DSN", ""),
        help="also measure PostgresStore (default: $SCHOOLSYNC_TEST_POSTGRES_DSN)",
    )
    args = parser.parse_args(argv)
    total = 10_000 if args.quick else 100_000
    pupils = make_pupils(total)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, SqliteStore(Path(tmp) / "bench.db") as store:
        results["sqlite"] = measure("SQLite", store, pupils)
    if args.postgres_dsn:

        def run(store: Store) -> None:
            results["postgres"] = measure("PostgreSQL", store, pupils)

        _with_postgres(args.postgres_dsn, run)
    else:
        print("PostgreSQL  skipped (no --postgres-dsn or SCHOOLSYNC_TEST_POSTGRES_DSN)")
    print("targets: write 100,000 < 10 s; load 1,500 < 0.2 s")
    return results


if __name__ == "__main__":
    main()
