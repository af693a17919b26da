"""Locks benchmark: what a trust or school lock costs a unit of work, and a nomination.

Each unit of work writes one record and commits, with and without ``lock_trust`` (then
``lock_school``) first, on SQLite and (with ``--postgres-dsn`` or
``SCHOOLSYNC_TEST_POSTGRES_DSN``) PostgreSQL, uncontended; then ``nominate_trust_admin`` end
to end (lock, reads, write, audit). The PostgreSQL run uses a schema of its own and drops it.

    python benchmarks/bench_locks.py            # 1,000 units of work per figure
    python benchmarks/bench_locks.py --quick    # 100, a few seconds
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from schoolsync.access.lifecycle import TrustLifecycle
from schoolsync.clock import FixedClock
from schoolsync.ports import Store, UnitOfWork
from schoolsync.records.accounts import Account, AccountStatus
from schoolsync.records.organisations import School
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing.notifier import RecordingNotifier


def _per_unit(store: Store, n: int, lock: Callable[[UnitOfWork], None]) -> float:
    """Milliseconds per unit of work that takes *lock*, writes one school and commits."""
    started = time.perf_counter()
    for i in range(n):
        with store.unit_of_work() as uow:
            lock(uow)
            uow.schools.put(School(id=f"s{i % 50}", name=f"School {i}"))
            uow.commit()
    return (time.perf_counter() - started) * 1000 / n


def _nominations(store: Store, n: int) -> float:
    """Milliseconds per nomination (each to its own trust, so the cap never refuses)."""
    life = TrustLifecycle(store, FixedClock(), RecordingNotifier())
    trusts = [life.create_trust(name=f"Trust {i}").id for i in range(n)]
    with store.unit_of_work() as uow:
        uow.accounts.put_many(
            Account(
                id=f"a{i}", trust_id=t, email=f"a{i}@x.org", name="A", status=AccountStatus.ACTIVE
            )
            for i, t in enumerate(trusts)
        )
        uow.commit()
    started = time.perf_counter()
    for i, trust_id in enumerate(trusts):
        life.nominate_trust_admin(trust_id, f"a{i}")
    return (time.perf_counter() - started) * 1000 / n


def _report(name: str, store: Store, n: int) -> None:
    plain = _per_unit(store, n, lambda uow: None)
    trust = _per_unit(store, n, lambda uow: uow.lock_trust("t1"))
    both = _per_unit(store, n, lambda uow: (uow.lock_trust("t1"), uow.lock_school("s1")))
    nominate = _nominations(store, max(20, n // 5))
    print(
        f"{name}: unit of work {plain:.2f} ms; with lock_trust {trust:.2f} ms "
        f"(+{trust - plain:.2f}); with lock_trust + lock_school {both:.2f} ms "
        f"(+{both - plain:.2f}); nominate_trust_admin {nominate:.2f} ms",
        flush=True,
    )


def main(argv: list[str]) -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres-dsn", default=os.environ.get("SCHOOLSYNC_TEST_POSTGRES_DSN"))
    args = parser.parse_args(argv)
    n = 100 if args.quick else 1_000
    with tempfile.TemporaryDirectory() as tmp, SqliteStore(Path(tmp) / "b.sqlite3") as store:
        _report("SQLite", store, n)
    if args.postgres_dsn:
        import psycopg

        from schoolsync.storage.postgres import PostgresStore

        schema = f"bench_locks_{secrets.token_hex(4)}"
        try:
            with PostgresStore(args.postgres_dsn, schema=schema) as pg:
                _report("PostgreSQL", pg, n)
        finally:
            with psycopg.connect(args.postgres_dsn, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
