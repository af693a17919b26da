"""Crash safety: a process SIGKILLed in the middle of a large unit of work leaves the store
holding all of it or none of it (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from schoolsync.ports import Store
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing.contracts import postgres_admin_dsn, throwaway_postgres_database

pytestmark = pytest.mark.slow

TOTAL = 50_000
CHUNK = 1_000

# The child applies TOTAL pupils in one unit of work, reporting progress on stdout, then waits
# to be killed.
_CHILD = textwrap.dedent(
    f"""
    import sys, time
    from schoolsync.people import Pupil

    kind, target = sys.argv[1], sys.argv[2]
    if kind == "sqlite":
        from schoolsync.storage.sqlite import SqliteStore
        store = SqliteStore(target)
    else:
        from schoolsync.storage.postgres import PostgresStore
        store = PostgresStore(target, schema=sys.argv[3])
    with store.unit_of_work() as uow:
        uow.lock_school("crash-school")
        for start in range(0, {TOTAL}, {CHUNK}):
            uow.pupils.put_many(
                Pupil(id=f"p{{i:06d}}", school_id="crash-school", forename="F", surname="S")
                for i in range(start, start + {CHUNK})
            )
            print("progress", start // {CHUNK} + 1, flush=True)
        print("committing", flush=True)
        uow.commit()
        print("committed", flush=True)
        time.sleep(600)
    """
)


def _kill_when(args: list[str], trigger: str) -> None:
    """Run the child and SIGKILL it as soon as it prints *trigger*."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == trigger:
                break
        else:
            pytest.fail(f"the child ended before printing {trigger!r}")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def _check(store: Store, allowed: set[int]) -> int:
    """The store opens, holds all or none of the pupils, and accepts new writes."""
    with store.unit_of_work() as uow:
        count = uow.pupils.count()
        assert count in allowed
        if count:
            ids = [p.id for p in uow.pupils.list(school_id="crash-school")]
            assert ids == [f"p{i:06d}" for i in range(TOTAL)]
        uow.lock_school("crash-school")
        uow.pupils.put_many([])
        uow.commit()
    return count


TRIGGERS = [
    ("progress 25", {0}),  # half-way through the writes
    ("committing", {0, TOTAL}),  # killed while committing
    ("committed", {TOTAL}),  # killed after the commit returned
]


@pytest.mark.parametrize(("trigger", "allowed"), TRIGGERS, ids=[t for t, _ in TRIGGERS])
def test_sqlite_holds_all_or_none_after_sigkill(
    tmp_path: Path, trigger: str, allowed: set[int]
) -> None:
    """An SQLite file written by a killed process holds all of its unit of work or none."""
    path = tmp_path / "crash.db"
    SqliteStore(path).close()
    _kill_when(["sqlite", str(path)], trigger)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with SqliteStore(path) as store:
        _check(store, allowed)


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    with throwaway_postgres_database(postgres_admin_dsn()) as dsn:
        yield dsn


@pytest.mark.postgres
@pytest.mark.parametrize(("trigger", "allowed"), TRIGGERS, ids=[t for t, _ in TRIGGERS])
def test_postgres_holds_all_or_none_after_sigkill(
    postgres_dsn: str, trigger: str, allowed: set[int]
) -> None:
    """A PostgreSQL schema written by a killed process holds all of its unit of work or none,
    and the killed writer's school lock is released."""
    from schoolsync.storage.postgres import PostgresStore

    schema = f"crash_{secrets.token_hex(4)}"
    PostgresStore(postgres_dsn, schema=schema).close()
    _kill_when(["postgres", postgres_dsn, schema], trigger)
    with PostgresStore(postgres_dsn, schema=schema, lock_timeout=30) as store:
        _check(store, allowed)
