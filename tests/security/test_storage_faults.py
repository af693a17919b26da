"""Storage faults on a really full disk: a 600 KiB tmpfs holding the SQLite database, and a
PostgreSQL tablespace on a small tmpfs. Any storage error ends the unit of work, leaves the
store as it was and names the real cause; a preview never writes.

Mounting needs root (``mount(2)`` needs CAP_SYS_ADMIN); CI runs as root. Where mounting is
impossible the tests skip, saying why.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schoolsync.access import Account, AccountStatus, RoleAssignment
from schoolsync.access.presets import hodder_admin_hub, progress_teaching
from schoolsync.bulk import (
    CatalogueChecks,
    TrustUsers,
    apply_change_set,
    check_change_set,
    plan_import,
    read_sheet,
    write_sheet,
)
from schoolsync.errors import StorageError, ValidationError
from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
from schoolsync.people import Pupil
from schoolsync.ports import Store, UnitOfWork
from schoolsync.records.sync import RecordKind
from schoolsync.storage.postgres import PostgresStore
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import MisConnection, SchoolRecords, SyncPlan, apply, authorise, erase, plan
from schoolsync.sync.sample import sample_snapshot
from schoolsync.testing.contracts import postgres_admin_dsn, throwaway_postgres_database
from schoolsync.testing.world import world
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEW_ACCOUNTS = 3_000


def _mount_tmpfs(where: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"mounting a {size} tmpfs needs root (mount(2) needs CAP_SYS_ADMIN)")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def _unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@pytest.fixture(params=["450k", "600k"])
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory on a small filesystem (450 or 600 KiB: the disk fills at a different point
    of the same work)."""
    where = tmp_path / "disk"
    _mount_tmpfs(where, str(request.param))
    try:
        yield where
    finally:
        _unmount(where)


def _seed(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t1", name="Northern Lights Trust"))
        uow.schools.add(School(id="s1", name="Oakfield Primary"))
        uow.memberships.add(
            Membership(id="m1", trust_id="t1", school_id="s1", status=MembershipStatus.ACCEPTED)
        )
        uow.accounts.add(
            Account(
                id="ada",
                trust_id="t1",
                email="ada@oak.example",
                name="Ada Lovelace",
                status=AccountStatus.ACTIVE,
            )
        )
        uow.assignments.add(
            RoleAssignment(id="r1", account_id="ada", trust_id="t1", role="Trust Admin")
        )
        uow.commit()


def _counts(store: Store) -> tuple[int, int, int]:
    with store.unit_of_work() as uow:
        return len(uow.accounts.list()), len(uow.assignments.list()), len(list(uow.audit.events()))


def _big_file(tmp_path: Path) -> Path:
    rows = [
        [f"user{n:05d}@oak.example", f"New User {n:05d} " + "x" * 60, "", "Staff", "", ""]
        for n in range(NEW_ACCOUNTS)
    ]
    header = ["Email", "Name", "Edited", "Oakfield Primary", "Trust Roles", "Inactive"]
    return write_sheet(tmp_path / "many.csv", header, rows)


def _is_full(error: BaseException) -> bool:
    text = str(error).lower()
    return ("full" in text or "space" in text) and "no transaction is active" not in text


def _assert_full_disk_leaves_store_unchanged(store: Store, tmp_path: Path) -> None:
    """3,000 new accounts on a full disk: the preview and the apply both change nothing, and
    the error says the disk is full."""
    checks = CatalogueChecks(progress_teaching())
    before = _counts(store)
    sheet = read_sheet(_big_file(tmp_path))
    with store.unit_of_work() as uow:
        users = TrustUsers.load(uow, "t1")
    planned = plan_import(sheet, users, checks=checks)
    assert len(planned.users_to_create) == NEW_ACCOUNTS
    assert planned.ok
    # The preview runs every change in a unit of work that is then rolled back: whether or not
    # the disk fills while it runs, it writes nothing.
    preview_error: StorageError | None = None
    try:
        check_change_set(store, planned, checks=checks, at=NOW)
    except StorageError as exc:
        preview_error = exc
    assert preview_error is None or _is_full(preview_error), preview_error
    assert _counts(store) == before, "the preview wrote to the store"
    with pytest.raises(StorageError) as info:
        apply_change_set(store, planned, checks=checks, at=NOW)
    assert _is_full(info.value), info.value
    assert _counts(store) == before, "a failed apply left changes behind"


def test_sqlite_full_disk_changes_nothing(small_disk: Path, tmp_path: Path) -> None:
    """SQLite on a full 600 KiB filesystem: all or nothing, and the real cause."""
    store = SqliteStore(small_disk / "app.db")
    try:
        _seed(store)
        _assert_full_disk_leaves_store_unchanged(store, tmp_path)
    finally:
        store.close()


def _fill(uow: UnitOfWork) -> None:
    for n in range(20_000):
        uow.pupils.add(Pupil(id=f"p{n}", school_id="s1", forename="A" * 200, surname="B"))


def test_a_unit_of_work_ended_by_a_fault_refuses_to_go_on(small_disk: Path) -> None:
    """After a storage error, later writes and the commit raise (naming the first error) and
    nothing is committed in autocommit behind the caller's back."""
    store = SqliteStore(small_disk / "app.db")
    try:
        _seed(store)
        before = _counts(store)
        with store.unit_of_work() as uow:
            with pytest.raises(StorageError) as first:
                _fill(uow)
            assert _is_full(first.value)
            with pytest.raises(StorageError, match="ended by an earlier error"):
                uow.pupils.add(Pupil(id="late", school_id="s1", forename="C", surname="D"))
            with pytest.raises(StorageError, match="ended by an earlier error"):
                uow.commit()
            uow.rollback()  # already rolled back: no second, misleading error
        assert _counts(store) == before
        with store.unit_of_work() as uow:
            assert uow.pupils.list() == []
    finally:
        store.close()


@pytest.fixture
def small_tablespace() -> Iterator[tuple[str, str]]:
    """A throwaway database whose tables live in a tablespace on a 2 MiB tmpfs."""
    import psycopg
    from psycopg import sql

    admin = postgres_admin_dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    data_dir = Path(str(row[0])) if row else Path("/nonexistent")
    if not data_dir.exists():
        pytest.skip("the PostgreSQL server is not on this machine: no tablespace can be mounted")
    where = Path(tempfile.mkdtemp(prefix="schoolsync-pgspace-"))
    where.chmod(0o755)
    _mount_tmpfs(where, "2m")
    owner = data_dir.stat()
    os.chown(where, owner.st_uid, owner.st_gid)
    name = f"schoolsync_small_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
                    sql.Identifier(name), sql.Literal(str(where))
                )
            )
        try:
            with throwaway_postgres_database(admin) as dsn:
                dbname = dsn.rsplit("dbname=", 1)[-1].split()[0]
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} SET default_tablespace = {}").format(
                            sql.Identifier(dbname), sql.Identifier(name)
                        )
                    )
                yield dsn, name
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(sql.Identifier(name)))
    finally:
        _unmount(where)
        where.rmdir()


def test_postgres_full_tablespace_changes_nothing(
    small_tablespace: tuple[str, str], tmp_path: Path
) -> None:
    """PostgreSQL with its tables on a full 2 MiB tablespace: all or nothing, real cause."""
    dsn, _ = small_tablespace
    store = PostgresStore(dsn)
    try:
        _seed(store)
        _assert_full_disk_leaves_store_unchanged(store, tmp_path)
    finally:
        store.close()


SECRET = "Quennevilleszyx"


@pytest.fixture
def sqlite_default_off(monkeypatch: pytest.MonkeyPatch) -> list[sqlite3.Connection]:
    """Every SQLite connection opened starts with ``secure_delete`` OFF, as SQLite's own
    default build has it. This machine's build (like Debian's) turns it on at compile time,
    which would hide a store that forgot to set it: the test must not depend on the build.
    Returns the connections opened, for the test to inspect."""
    real = sqlite3.connect
    made: list[sqlite3.Connection] = []

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conn.execute("PRAGMA secure_delete = OFF")
        made.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return made


def _secure_delete(conn: sqlite3.Connection) -> int | None:
    """The connection's secure_delete setting, or None once it is closed."""
    try:
        return int(conn.execute("PRAGMA secure_delete").fetchone()[0])
    except sqlite3.ProgrammingError:
        return None


def _holds_secret(folder: Path, stem: str) -> list[str]:
    """The files of the database *stem* (with its WAL and journal) whose bytes hold SECRET."""
    return [
        p.name
        for p in folder.iterdir()
        if p.name.startswith(stem) and SECRET.encode() in p.read_bytes()
    ]


def test_sqlite_erasure_leaves_no_trace_in_the_file(
    tmp_path: Path, sqlite_default_off: list[sqlite3.Connection]
) -> None:
    """An erased pupil's name is not in the database file afterwards, because the store turns
    ``secure_delete`` on for every connection it opens, whatever SQLite's build default.

    The control comes first: on a connection left at the default (OFF), a deleted row stays
    readable in the file, so the scan below does detect leftovers."""
    control = sqlite3.connect(tmp_path / "control.db", isolation_level=None)
    assert _secure_delete(control) == 0
    control.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    control.executemany("INSERT INTO t (name) VALUES (?)", [(f"S{n}",) for n in range(50)])
    control.execute("INSERT INTO t (name) VALUES (?)", (SECRET,))
    control.execute("DELETE FROM t WHERE name = ?", (SECRET,))
    control.close()
    assert _holds_secret(tmp_path, "control.db") == ["control.db"]

    sqlite_default_off.clear()
    path = tmp_path / "app.db"
    store = SqliteStore(path)
    with store.unit_of_work() as uow, store.unit_of_work() as other:
        for n in range(50):
            uow.pupils.add(Pupil(id=f"p{n}", school_id="s1", forename="Amy", surname=f"S{n}"))
        uow.pupils.add(Pupil(id="gone", school_id="s1", forename="Zed", surname=SECRET))
        uow.commit()
        del other  # a second unit of work: a second connection, open at the same time
        opened = [c for c in sqlite_default_off if _secure_delete(c) is not None]
        assert len(opened) >= 2
        assert {_secure_delete(c) for c in opened} == {1}
    store.close()
    assert _holds_secret(tmp_path, "app.db")
    store = SqliteStore(path)
    erase(store, RecordKind.PUPIL, "gone", key=b"k" * 32, at=NOW, school_id="s1")
    assert {_secure_delete(c) for c in sqlite_default_off} - {None} == {1}
    store.close()  # the last connection checkpoints the WAL into the file and removes it
    assert _holds_secret(tmp_path, "app.db") == []


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store: Store = SqliteStore(tmp_path / "app.db")
        yield store
        store.close()  # type: ignore[attr-defined]
        return
    with throwaway_postgres_database(postgres_admin_dsn()) as dsn:
        pg = PostgresStore(dsn)
        yield pg
        pg.close()


@pytest.mark.parametrize("before", [0, 500])
def test_a_lone_surrogate_is_a_typed_error(any_store: Store, before: int) -> None:
    """A name holding a lone surrogate (after *before* good records in the same unit of work)
    is a ValidationError (not UnicodeEncodeError) that does not echo the name, and nothing of
    the unit of work is stored."""
    with any_store.unit_of_work() as uow:
        for n in range(before):
            uow.pupils.add(Pupil(id=f"ok{n}", school_id="s1", forename="Amy", surname=f"S{n}"))
        with pytest.raises(ValidationError) as info:
            uow.pupils.add(Pupil(id="p1", school_id="s1", forename="Ann\udc80e", surname="Lee"))
        assert "Ann" not in str(info.value)
        with pytest.raises(StorageError):
            uow.commit()
    with any_store.unit_of_work() as uow:
        assert uow.pupils.list() == []


def _sync_plan_for(store: Store, pupils: int) -> SyncPlan:
    mis = sample_snapshot("oak", pupils=pupils, staff=8)
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, "oak")
    reviews = [
        match_year_groups(mis.year_groups, list(current.year_groups.values())),
        match_classes(mis.classes, list(current.classes.values())),
        match_staff(mis.staff, list(current.staff.values())).select_all_new(),
        match_pupils(mis.pupils, list(current.pupils.values())),
    ]
    return plan(reviews, current, at=NOW)


def _connection() -> MisConnection:
    access = (
        world(hodder_admin_hub(), now=NOW)
        .trust("T")
        .school("oak", in_trust="T")
        .account("coordinator")
        .role("coordinator", "Access Co-ordinator", at="oak")
        .index()
    )
    connection = MisConnection(
        school_id="oak", provider="assembly", required_scopes={"students.read", "staff.read"}
    )
    return authorise(
        connection,
        actor_id="coordinator",
        granted_scopes={"students.read", "staff.read"},
        at=NOW,
        can_configure=access.check,
    )


def test_sqlite_sync_apply_on_a_full_disk_reports_the_real_cause(small_disk: Path) -> None:
    """A first sync of 3,000 pupils onto a full disk: StorageError saying the disk is full (not
    "cannot rollback - no transaction is active"), and nothing of the sync is kept."""
    store = SqliteStore(small_disk / "app.db")
    try:
        with store.unit_of_work() as uow:
            uow.schools.add(School(id="oak", name="Oak Primary"))
            uow.commit()
        sync_plan = _sync_plan_for(store, 3_000)
        with pytest.raises(StorageError) as info:
            apply(sync_plan, store, connection=_connection(), at=NOW, force=True)
        assert _is_full(info.value), info.value
        with store.unit_of_work() as uow:
            assert uow.pupils.list() == []
            assert uow.staff.list() == []
            assert list(uow.audit.events()) == []
    finally:
        store.close()
