"""The SQLite store (standard library :mod:`sqlite3`): schoolsync's embedded default.

``SqliteStore(path)`` opens (or creates) a database file, switches it to WAL mode, turns foreign
keys on and applies any pending schema migrations. Each unit of work has its own connection and
is one transaction: it starts with ``BEGIN IMMEDIATE`` at the first write (or at
:meth:`~schoolsync.ports.UnitOfWork.lock_school` / ``lock_trust``) and ends at
``commit``/``rollback``.

SQLite allows one writer at a time, so :meth:`lock_school` and :meth:`lock_trust` take the whole
database's write lock: writers to any school or trust are serialised. Reads after the lock see
every change committed before it (``BEGIN IMMEDIATE`` starts the transaction's snapshot); reads
before it, outside a transaction, may be stale by the time the unit of work writes, so the
services take their locks first. A writer that cannot get the lock within
``timeout`` seconds gets :class:`~schoolsync.errors.ConcurrentWriteError`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from schoolsync.errors import StorageError
from schoolsync.storage import migrations
from schoolsync.storage._faults import FaultGuard
from schoolsync.storage.base import (
    ConnectionPool,
    Cursor,
    PooledStore,
    RepositorySet,
    SqlAuditLog,
    SqlDialect,
    SqlRepository,
    translate_errors,
)
from schoolsync.storage.codec import TABLES, utc_key

if TYPE_CHECKING:
    from schoolsync.ports import Store

__all__ = ["SqliteStore"]

_MAX_IDLE = 4


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _translate() -> AbstractContextManager[None]:
    """Turn sqlite3 exceptions into schoolsync's (a busy database is ConcurrentWriteError)."""
    return translate_errors("SQLite", sqlite3.Error, _is_busy)


def _at(value: datetime) -> str:
    return utc_key(value).isoformat(timespec="microseconds")


# Audit times are stored as sortable ISO text in UTC.
_DIALECT = SqlDialect(param="?", json_param="?", audit_time=_at)


class _SqliteUnitOfWork(RepositorySet):
    """One transaction on its own connection (see the module docstring)."""

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = conn
        self._in_transaction = False
        self._guard = FaultGuard()
        for spec in TABLES:
            setattr(self, spec.name, SqlRepository[Any](self, spec, _DIALECT))
        self.audit = SqlAuditLog(self, _DIALECT)

    def execute(self, sql: str, args: Sequence[object] = (), *, write: bool = False) -> Cursor:
        """Run one statement (taking the write lock first if *write*).

        Any storage error ends the unit of work (see :mod:`schoolsync.storage._faults`)."""
        with self._guard.watch(self._end_transaction), _translate():
            conn = self._write() if write else self._connection()
            cursor = conn.execute(sql, args)
            self._check_open(conn)
            return cursor

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one write statement once per row."""
        with self._guard.watch(self._end_transaction), _translate():
            conn = self._write()
            conn.executemany(sql, rows)
            self._check_open(conn)

    def _check_open(self, conn: sqlite3.Connection) -> None:
        """Refuse to go on when SQLite ended the transaction by itself: later statements
        would otherwise run (and commit) one by one."""
        if self._in_transaction and not conn.in_transaction:
            raise StorageError("SQLite ended the transaction by itself; nothing was kept")

    def _end_transaction(self) -> None:
        """After an error: roll back whatever SQLite still holds of the transaction."""
        self._in_transaction = False
        conn = self._conn
        if conn is not None and conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("this unit of work has ended; start a new one")
        self._guard.check()
        return self._conn

    def _write(self) -> sqlite3.Connection:
        conn = self._connection()
        if not self._in_transaction:
            with _translate():
                conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
        return conn

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
            self._in_transaction = False
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            conn.close()
            return
        self._store._pool.give_back(conn)

    def commit(self) -> None:
        """Make every change durable and visible at once (ends the transaction)."""
        conn = self._connection()
        if self._in_transaction:
            with self._guard.watch(self._end_transaction), _translate():
                self._check_open(conn)
                conn.execute("COMMIT")
            self._in_transaction = False

    def rollback(self) -> None:
        """Discard every change since the transaction began (nothing to do after an error
        ended the unit of work: it is already rolled back)."""
        if self._guard.failure is not None:
            return
        conn = self._connection()
        if self._in_transaction:
            self._in_transaction = False
            with self._guard.watch(self._end_transaction), _translate():
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def lock_school(self, school_id: str) -> None:
        """Take the database's write lock (SQLite has one writer) until commit or rollback."""
        self._write()

    def lock_trust(self, trust_id: str) -> None:
        """Take the database's write lock (SQLite has one writer) until commit or rollback."""
        self._write()


class SqliteStore(PooledStore):
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
        self._pool = ConnectionPool(self._connect, sqlite3.Connection.close, max_idle=_MAX_IDLE)
        conn = self._connect()
        try:
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._pool.give_back(conn)

    def _connect(self) -> sqlite3.Connection:
        with _translate():
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute("PRAGMA foreign_keys = ON")
                # Deleted rows are overwritten with zeros, whatever SQLite's build default:
                # an erased pupil's name must not stay readable in the file.
                conn.execute("PRAGMA secure_delete = ON")
            except BaseException:
                conn.close()
                raise
        return conn

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
        return _SqliteUnitOfWork(self, self._pool.take())  # type: ignore[abstract]  # repositories set per TABLES entry

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
            for migration in migrations.pending(current):
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
