"""Crash safety: a process SIGKILLed in the middle of a large unit of work (50,000 pupils
written in chunks) or of a real sync apply (a first import of a 3,000-pupil school) leaves
the store holding all of it or none of it (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from schoolsync.ports import Store
from schoolsync.storage.sqlite import SqliteStore

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


# The child runs a real sync: a first import of a 3,000-pupil school through
# schoolsync.sync.apply, with its unit of work wrapped to report each write on stdout.
APPLY_PUPILS = 3_000
_APPLY_CHILD = textwrap.dedent(
    f"""
    import os, sys, time
    from datetime import UTC, datetime
    from schoolsync.sync import MisConnection, Pairing, RecordKind, SchoolRecords, apply, authorise
    from schoolsync.sync import plan_pairings
    from schoolsync.sync.sample import sample_snapshot
    from schoolsync.trusts import School

    kind, target = sys.argv[1], sys.argv[2]
    PAUSE_AT = int(os.environ["PAUSE_AT"]) if os.environ.get("PAUSE_AT") else None
    if kind == "sqlite":
        from schoolsync.storage.sqlite import SqliteStore
        store = SqliteStore(target)
    else:
        from schoolsync.storage.postgres import PostgresStore
        store = PostgresStore(target, schema=sys.argv[3])
    now = datetime(2026, 3, 2, 2, tzinfo=UTC)
    feed = sample_snapshot("crash-school", pupils={APPLY_PUPILS}, staff=30, taken_at=now)
    conn = authorise(
        MisConnection(school_id="crash-school", provider="p", required_scopes={{"read"}}),
        actor_id="ac", granted_scopes={{"read"}}, at=now, can_configure=lambda a, p, s: True,
    )
    with store.unit_of_work() as uow:
        uow.schools.put(School(id="crash-school", name="Oak"))
        uow.commit()
    pairings = [Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=y) for y in feed.year_groups]
    pairings += [Pairing(kind=RecordKind.CLASS, status="new", mis=c) for c in feed.classes]
    pairings += [Pairing(kind=RecordKind.STAFF, status="new", mis=s) for s in feed.staff]
    pairings += [Pairing(kind=RecordKind.PUPIL, status="new", mis=p) for p in feed.pupils]
    with store.unit_of_work() as uow:
        plan = plan_pairings(pairings, SchoolRecords.load(uow, "crash-school"), at=now)

    class Counted:
        def __init__(self, repo):
            self._repo = repo
        def __getattr__(self, name):
            return getattr(self._repo, name)
        def _count(self, n):
            Counted.writes += n
            print("writes", Counted.writes, flush=True)
            if PAUSE_AT is not None and Counted.writes >= PAUSE_AT:
                time.sleep(600)  # hold the transaction open here until the parent kills us
        def put(self, record):
            self._repo.put(record); self._count(1)
        def add(self, record):
            self._repo.add(record); self._count(1)
        def put_many(self, records):
            records = list(records); self._repo.put_many(records); self._count(len(records))
    Counted.writes = 0

    class Unit:
        def __init__(self, uow):
            self._uow = uow
        def __getattr__(self, name):
            value = getattr(self._uow, name)
            return Counted(value) if hasattr(value, "put_many") else value
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self._uow.__exit__(*exc)
        def commit(self):
            print("committing", flush=True)
            self._uow.commit()
            print("committed", flush=True)

    with store.unit_of_work() as uow:
        apply(plan, Unit(uow), connection=conn, at=now)
        time.sleep(600)
    """
)


def _kill_apply_when(args: list[str], threshold: int | None) -> None:
    """Run the applying child; SIGKILL it once it has written *threshold* records (or, if
    None, once its commit has returned). The child waits at that point (inside its unit of
    work, or after its commit), so the kill lands there however slowly this process reads."""
    env = dict(os.environ, PAUSE_AT="" if threshold is None else str(threshold))
    child = subprocess.Popen(
        [sys.executable, "-c", _APPLY_CHILD, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            word, _, number = line.strip().partition(" ")
            if threshold is None and word == "committed":
                break
            if threshold is not None and word == "writes" and int(number) >= threshold:
                break
        else:
            pytest.fail("the child ended before the kill point")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def _check_apply(store: Store, *, applied: bool) -> None:
    """The school holds every record of the apply (pupils, their sync links, the audit
    trail) or none of them, and takes new writes."""
    with store.unit_of_work() as uow:
        pupils = uow.pupils.count(school_id="crash-school")
        links = uow.sync_links.count(school_id="crash-school")
        events = uow.audit.events(school_id="crash-school")
        if applied:
            assert pupils == APPLY_PUPILS
            assert (
                links == pupils + uow.staff.count() + uow.classes.count() + uow.year_groups.count()
            )
            assert events
        else:
            assert (pupils, links, events) == (0, 0, [])
            assert uow.staff.count() == uow.classes.count() == uow.year_groups.count() == 0
        assert uow.schools.require("crash-school").name == "Oak"
        uow.lock_school("crash-school")
        uow.commit()


APPLY_KILLS = [(APPLY_PUPILS // 2, False), (None, True)]
APPLY_IDS = ["half-way", "after-commit"]


@pytest.mark.parametrize(("threshold", "applied"), APPLY_KILLS, ids=APPLY_IDS)
def test_sqlite_sync_apply_killed_holds_all_or_none(
    tmp_path: Path, threshold: int | None, applied: bool
) -> None:
    """A real sync apply SIGKILLed half-way leaves none of it in SQLite; after its commit,
    all of it."""
    path = tmp_path / "apply.db"
    _kill_apply_when(["sqlite", str(path)], threshold)
    with SqliteStore(path) as store:
        _check_apply(store, applied=applied)


@pytest.mark.postgres
@pytest.mark.parametrize(("threshold", "applied"), APPLY_KILLS, ids=APPLY_IDS)
def test_postgres_sync_apply_killed_holds_all_or_none(
    postgres_dsn: str, threshold: int | None, applied: bool
) -> None:
    """A real sync apply SIGKILLed half-way leaves none of it in PostgreSQL (and releases
    its school lock); after its commit, all of it."""
    from schoolsync.storage.postgres import PostgresStore

    schema = f"crash_{secrets.token_hex(4)}"
    _kill_apply_when(["postgres", postgres_dsn, schema], threshold)
    with PostgresStore(postgres_dsn, schema=schema, lock_timeout=30) as store:
        _check_apply(store, applied=applied)
