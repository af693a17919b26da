"""The SQLite store (standard library :mod:`sqlite3`): schoolsync's embedded default.

``SqliteStore(path)`` opens (or creates) a database file, switches it to WAL mode, turns foreign
keys on and applies any pending schema migrations. Each unit of work has its own connection and
is one transaction: it starts with ``BEGIN IMMEDIATE`` at the first write (or at
:meth:`~schoolsync.ports.UnitOfWork.lock_school`) and ends at ``commit``/``rollback``.

SQLite allows one writer at a time, so :meth:`lock_school` takes the whole database's write
lock: writers to any school are serialised. A writer that cannot get the lock within
``timeout`` seconds gets :class:`~schoolsync.errors.ConcurrentWriteError`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from schoolsync.access.accounts import Account, RoleAssignment
from schoolsync.access.grants import Grant
from schoolsync.audit import AuditEvent
from schoolsync.errors import (
    ConcurrentWriteError,
    DuplicateRecordError,
    NotFoundError,
    SchemaVersionError,
    StorageError,
)
from schoolsync.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import AuditLog, Repository
from schoolsync.storage import migrations
from schoolsync.storage.codec import (
    AUDIT_TABLE,
    TABLES,
    TableSpec,
    decode,
    decode_event,
    encode,
    encode_event,
    utc_key,
)
from schoolsync.sync.records import Backup, DeletedRecord, SyncLink, Tombstone
from schoolsync.trusts import Membership, School, Trust

if TYPE_CHECKING:
    from schoolsync.ports import Store

__all__ = ["SqliteStore"]

R = TypeVar("R")

_MAX_IDLE = 4


@contextmanager
def _translate() -> Iterator[None]:
    """Turn sqlite3 exceptions into schoolsync's."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            raise ConcurrentWriteError(
                "another writer holds the database's write lock; try again later"
            ) from exc
        raise StorageError(f"SQLite error: {exc}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"SQLite error: {exc}") from exc


def _at(value: datetime) -> str:
    return utc_key(value).isoformat(timespec="microseconds")


class _SqliteRepository(Generic[R]):
    def __init__(self, uow: _SqliteUnitOfWork, spec: TableSpec[R]) -> None:
        self._uow = uow
        self._spec = spec
        t = spec.name
        cols = ("id", *spec.columns, "data")
        marks = ", ".join("?" for _ in cols)
        self._get = f"SELECT data FROM {t} WHERE id = ?"
        self._insert = f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({marks})"
        self._upsert = f"INSERT OR REPLACE INTO {t} ({', '.join(cols)}) VALUES ({marks})"
        self._delete = f"DELETE FROM {t} WHERE id = ?"
        self._list_all = f"SELECT id, data FROM {t} ORDER BY id"
        self._list_school = f"SELECT id, data FROM {t} WHERE school_id = ? ORDER BY id"
        self._count_all = f"SELECT count(*) FROM {t}"
        self._count_school = f"SELECT count(*) FROM {t} WHERE school_id = ?"

    def get(self, id: str) -> R | None:
        with _translate():
            row = self._uow._connection().execute(self._get, (id,)).fetchone()
        return None if row is None else decode(self._spec, id, row[0])

    def require(self, id: str) -> R:
        record = self.get(id)
        if record is None:
            raise NotFoundError(self._spec.kind, id)
        return record

    def add(self, record: R) -> None:
        row = encode(self._spec, record)
        with _translate():
            conn = self._uow._write()
            try:
                conn.execute(self._insert, row)
            except sqlite3.IntegrityError:
                raise DuplicateRecordError(self._spec.kind, row[0]) from None

    def put(self, record: R) -> None:
        row = encode(self._spec, record)
        with _translate():
            self._uow._write().execute(self._upsert, row)

    def put_many(self, records: Iterable[R]) -> None:
        spec = self._spec
        rows = [encode(spec, r) for r in records]
        if not rows:
            return
        with _translate():
            self._uow._write().executemany(self._upsert, rows)

    def remove(self, id: str) -> None:
        with _translate():
            cursor = self._uow._write().execute(self._delete, (id,))
        if cursor.rowcount == 0:
            raise NotFoundError(self._spec.kind, id)

    def list(self, *, school_id: str | None = None) -> list[R]:
        if school_id is not None and not self._spec.has_school_id:
            return []
        with _translate():
            conn = self._uow._connection()
            if school_id is None:
                rows = conn.execute(self._list_all).fetchall()
            else:
                rows = conn.execute(self._list_school, (school_id,)).fetchall()
        spec = self._spec
        return [decode(spec, key, data) for key, data in rows]

    def count(self, *, school_id: str | None = None) -> int:
        if school_id is not None and not self._spec.has_school_id:
            return 0
        with _translate():
            conn = self._uow._connection()
            if school_id is None:
                row = conn.execute(self._count_all).fetchone()
            else:
                row = conn.execute(self._count_school, (school_id,)).fetchone()
        return int(row[0])


class _SqliteAuditLog:
    def __init__(self, uow: _SqliteUnitOfWork) -> None:
        self._uow = uow

    def append(self, event: AuditEvent) -> None:
        id_, account_id, school_id, trust_id, data = encode_event(event)
        with _translate():
            self._uow._write().execute(
                f"INSERT INTO {AUDIT_TABLE} (id, at, account_id, school_id, trust_id, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (id_, _at(event.at), account_id, school_id, trust_id, data),
            )

    def events(
        self,
        *,
        account_id: str | None = None,
        school_id: str | None = None,
        trust_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        where: list[str] = []
        args: list[str] = []
        for column, value in (
            ("account_id", account_id),
            ("school_id", school_id),
            ("trust_id", trust_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("at >= ?")
            args.append(_at(since))
        if until is not None:
            where.append("at < ?")
            args.append(_at(until))
        sql = f"SELECT seq, data FROM {AUDIT_TABLE}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at, seq"
        with _translate():
            rows = self._uow._connection().execute(sql, args).fetchall()
        return [decode_event(seq, data) for seq, data in rows]


class _SqliteUnitOfWork:
    """One transaction on its own connection (see the module docstring)."""

    trusts: Repository[Trust]
    schools: Repository[School]
    memberships: Repository[Membership]
    grants: Repository[Grant]
    accounts: Repository[Account]
    assignments: Repository[RoleAssignment]
    pupils: Repository[Pupil]
    staff: Repository[StaffMember]
    classes: Repository[SchoolClass]
    year_groups: Repository[YearGroup]
    sync_links: Repository[SyncLink]
    backups: Repository[Backup]
    deleted: Repository[DeletedRecord]
    tombstones: Repository[Tombstone]
    audit: AuditLog

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = conn
        self._in_transaction = False
        for spec in TABLES:
            setattr(self, spec.name, _SqliteRepository[Any](self, spec))
        self.audit = _SqliteAuditLog(self)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("this unit of work has ended; start a new one")
        return self._conn

    def _write(self) -> sqlite3.Connection:
        conn = self._connection()
        if not self._in_transaction:
            with _translate():
                conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
        return conn

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._in_transaction:
                self._in_transaction = False
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            conn.close()
            return
        self._store._release(conn)

    def commit(self) -> None:
        """Make every change durable and visible at once (ends the transaction)."""
        conn = self._connection()
        if self._in_transaction:
            with _translate():
                conn.execute("COMMIT")
            self._in_transaction = False

    def rollback(self) -> None:
        """Discard every change since the transaction began."""
        conn = self._connection()
        if self._in_transaction:
            self._in_transaction = False
            with _translate():
                conn.execute("ROLLBACK")

    def lock_school(self, school_id: str) -> None:
        """Take the database's write lock (SQLite has one writer) until commit or rollback."""
        self._write()


class SqliteStore:
    """A :class:`~schoolsync.ports.Store` in an SQLite database file.

    Args:
        path: the database file; created (with the schema) if it does not exist.
        timeout: seconds a writer waits for another writer before
            :class:`~schoolsync.errors.ConcurrentWriteError`.

    Raises:
        SchemaVersionError: the database was written by a newer schoolsync.
        StorageError: the file cannot be opened as an SQLite database, or *path* is
            ``":memory:"`` (use :class:`~schoolsync.testing.memory.MemoryStore`).
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        if str(path) in {"", ":memory:"} or str(path).startswith("file:"):
            raise StorageError(
                "SqliteStore needs a database file (each unit of work opens its own "
                "connection); use schoolsync.testing.memory.MemoryStore for a store in memory"
            )
        self.path = Path(path)
        self._timeout = timeout
        self._mutex = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        conn = self._connect()
        try:
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._idle.append(conn)

    def _connect(self) -> sqlite3.Connection:
        with _translate():
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute("PRAGMA foreign_keys = ON")
            except BaseException:
                conn.close()
                raise
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._mutex:
            if not self._closed and len(self._idle) < _MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def schema_version(self) -> int:
        """The database's schema version (after the migrations applied on open)."""
        conn = self._connect()
        try:
            with _translate():
                return _current_version(conn)
        finally:
            conn.close()

    def unit_of_work(self) -> _SqliteUnitOfWork:
        """A new unit of work (one transaction on its own connection)."""
        with self._mutex:
            if self._closed:
                raise StorageError("the store is closed")
            conn = self._idle.pop() if self._idle else None
        return _SqliteUnitOfWork(self, conn if conn is not None else self._connect())

    def close(self) -> None:
        """Close the idle connections; units of work still open close theirs when they end."""
        with self._mutex:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"


def _current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute(f"SELECT max(version) FROM {migrations.VERSION_TABLE}").fetchone()
    return int(row[0] or 0)


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply every pending migration in one transaction; refuse a newer database."""
    with _translate():
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {migrations.VERSION_TABLE} (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            current = _current_version(conn)
            if current > migrations.SCHEMA_VERSION:
                raise SchemaVersionError(current, migrations.SCHEMA_VERSION)
            for migration in migrations.MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.sqlite:
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {migrations.VERSION_TABLE} (version, description, applied_at) "
                    "VALUES (?, ?, ?)",
                    (migration.version, migration.description, datetime.now(UTC).isoformat()),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


if TYPE_CHECKING:

    def _conforms(store: SqliteStore) -> Store:
        return store
