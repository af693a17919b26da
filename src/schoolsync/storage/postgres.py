"""The PostgreSQL store (psycopg 3, the ``postgres`` extra): for hosts that outgrow one process.

``PostgresStore(dsn)`` connects, creates its schema (``schoolsync`` by default) and applies any
pending migrations, serialised between processes by an advisory lock. The tables are those of
:class:`~schoolsync.storage.sqlite.SqliteStore` (records as ``jsonb``, audit times as
``timestamptz``). Each unit of work is one transaction on its own pooled connection.

:meth:`lock_school` and :meth:`lock_trust` take a transaction-scoped advisory lock for the
school or trust (``pg_advisory_xact_lock``, schools and trusts in separate key spaces): a second
writer to the same school (trust) *waits* until the first commits or rolls back, and gets
:class:`~schoolsync.errors.ConcurrentWriteError` only if it waited longer than ``lock_timeout``
seconds (or PostgreSQL detected a deadlock). Writers to different schools and trusts proceed
concurrently. After the lock is granted, each statement (READ COMMITTED) sees every change the
previous holder committed. An uncontended lock costs one round trip
(``pg_try_advisory_xact_lock``); only a writer that has to wait sets ``lock_timeout``.
psycopg is imported when a store is opened, not when this module is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

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
from schoolsync.storage.codec import TABLES, TableSpec, utc_key

if TYPE_CHECKING:
    import psycopg

    from schoolsync.ports import Store

__all__ = ["PostgresStore"]

R = TypeVar("R")

_COPY_FROM = 500  # put_many switches from executemany to COPY at this many records


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise StorageError(
            "PostgresStore needs psycopg 3: pip install 'schoolsync[postgres]'"
        ) from exc
    return psycopg


def _is_lock_conflict(exc: BaseException) -> bool:
    from psycopg import errors

    return isinstance(
        exc, errors.LockNotAvailable | errors.DeadlockDetected | errors.SerializationFailure
    )


def _translate() -> AbstractContextManager[None]:
    """Turn psycopg exceptions into schoolsync's (a lock conflict is ConcurrentWriteError)."""
    import psycopg

    return translate_errors("PostgreSQL", psycopg.Error, _is_lock_conflict)


# Audit times are timestamptz; records are jsonb.
_DIALECT = SqlDialect(param="%s", json_param="%s::jsonb", audit_time=utc_key)


def _close(conn: psycopg.Connection[Any]) -> None:
    conn.close()


class _PostgresRepository(SqlRepository[R]):
    """Large put_many batches go through COPY into a temporary table, then one upsert."""

    def __init__(self, uow: _PostgresUnitOfWork, spec: TableSpec[R]) -> None:
        super().__init__(uow, spec, _DIALECT)
        self._uow = uow
        t = spec.name
        cols = ", ".join(self._columns)
        load = f"schoolsync_load_{t}"
        self._create_load = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {load} "
            f"(LIKE {t} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        self._copy = f"COPY {load} ({cols}) FROM STDIN"
        self._merge = (
            f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {load} "
            f"ON CONFLICT (id) DO UPDATE SET {self._updates}"
        )
        self._truncate_load = f"TRUNCATE {load}"

    def put_many(self, records: Iterable[R]) -> None:
        """Insert or replace many records, the last of a repeated id winning."""
        rows = self._rows(records)
        if len(rows) < _COPY_FROM:
            if rows:
                self._uow.execute_many(self._upsert, rows)
            return
        conn = self._uow._connection()
        with self._uow._watch(), _translate(), conn.cursor() as cursor:
            cursor.execute(self._create_load)
            with cursor.copy(self._copy) as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(self._merge)
            cursor.execute(self._truncate_load)


class _PostgresUnitOfWork(RepositorySet):
    """One transaction on its own connection (see the module docstring)."""

    def __init__(self, store: PostgresStore, conn: psycopg.Connection[Any]) -> None:
        self._store = store
        self._conn: psycopg.Connection[Any] | None = conn
        self._guard = FaultGuard()
        #: The advisory locks this transaction holds (released when it ends).
        self._held: set[tuple[str, str]] = set()
        for spec in TABLES:
            setattr(self, spec.name, _PostgresRepository[Any](self, spec))
        self.audit = SqlAuditLog(self, _DIALECT)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise StorageError("this unit of work has ended; start a new one")
        self._guard.check()
        return self._conn

    def _end_transaction(self) -> None:
        """After an error: roll the (aborted) transaction back."""
        self._held.clear()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.rollback()

    def _intact(self) -> bool:
        """False once PostgreSQL has aborted the transaction (every later statement fails)."""
        from psycopg.pq import TransactionStatus

        conn = self._conn
        return conn is not None and conn.info.transaction_status != TransactionStatus.INERROR

    def _watch(self) -> AbstractContextManager[None]:
        """Any storage error ends the unit of work (see :mod:`schoolsync.storage._faults`)."""
        return self._guard.watch(self._end_transaction, self._intact)

    def execute(self, sql: str, args: Sequence[object] = (), *, write: bool = False) -> Cursor:
        """Run one statement in the unit of work's transaction."""
        with self._watch(), _translate():
            return self._connection().execute(sql.encode(), args)

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one write statement once per row."""
        with self._watch(), _translate(), self._connection().cursor() as cursor:
            cursor.executemany(sql.encode(), rows)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._store._release(conn)

    def commit(self) -> None:
        """Make every change durable and visible at once (ends the transaction and its locks)."""
        self._held.clear()
        with self._watch(), _translate():
            self._connection().commit()

    def rollback(self) -> None:
        """Discard every change since the transaction began (nothing to do after an error
        ended the unit of work: it is already rolled back)."""
        self._held.clear()
        if self._guard.failure is not None:
            return
        with self._watch(), _translate():
            self._connection().rollback()

    def lock_school(self, school_id: str) -> None:
        """Wait (up to the store's ``lock_timeout``) for the school's advisory lock; it is
        held until the transaction commits or rolls back."""
        self._advisory_lock("school", school_id)

    def lock_trust(self, trust_id: str) -> None:
        """Wait (up to the store's ``lock_timeout``) for the trust's advisory lock (a key
        space of its own: no trust id can collide with a school id); held until the
        transaction commits or rolls back."""
        self._advisory_lock("trust", trust_id)

    def _advisory_lock(self, space: str, key: str) -> None:
        if (space, key) in self._held:
            return  # advisory locks are re-entrant; skip the round trips
        conn = self._connection()
        namespace = self._store._lock_namespaces[space]
        with self._watch(), _translate():
            # Uncontended (the usual case): one round trip, no waiting, no error to undo.
            got = conn.execute(
                "SELECT pg_try_advisory_xact_lock(hashtext(%s), hashtext(%s))", (namespace, key)
            ).fetchone()
            if got is not None and got[0]:
                self._held.add((space, key))
                return
            row = conn.execute("SELECT current_setting('lock_timeout')").fetchone()
            assert row is not None
            conn.execute("SAVEPOINT schoolsync_lock")
            try:
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, true)",
                    (f"{max(1, round(self._store.lock_timeout * 1000))}ms",),
                )
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
                    (namespace, key),
                )
            except BaseException:
                # Undo the failed wait (and the setting) but keep the unit of work's changes.
                conn.execute("ROLLBACK TO SAVEPOINT schoolsync_lock")
                raise
            conn.execute("RELEASE SAVEPOINT schoolsync_lock")
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (row[0],))
        self._held.add((space, key))


class PostgresStore(PooledStore):
    """A :class:`~schoolsync.ports.Store` in a PostgreSQL database.

    Args:
        dsn: a libpq connection string or URL
            (``"postgresql://app@db.example.org/app"``).
        schema: the PostgreSQL schema holding schoolsync's tables (created if missing), so
            they never clash with the host's own tables.
        lock_timeout: seconds :meth:`~schoolsync.ports.UnitOfWork.lock_school` (and
            ``lock_trust``) waits for another writer to the same school (trust) before
            :class:`~schoolsync.errors.ConcurrentWriteError`.
        max_idle: how many idle connections the store keeps for reuse.

    Raises:
        SchemaVersionError: the schema was written by a newer schoolsync.
        StorageError: psycopg is not installed or the server cannot be reached.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "schoolsync",
        lock_timeout: float = 30.0,
        max_idle: int = 4,
    ) -> None:
        _psycopg()
        self.schema = schema
        self.lock_timeout = lock_timeout
        self._dsn = dsn
        # School locks keep the key space earlier versions used; trust locks have their own.
        self._lock_namespaces = {
            "school": f"schoolsync:{schema}",
            "trust": f"schoolsync:{schema}:trust",
        }
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self._connect, _close, max_idle=max_idle
        )
        conn = self._connect()
        try:
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._pool.give_back(conn)

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg
        from psycopg import sql

        with _translate():
            conn = psycopg.connect(self._dsn, autocommit=False)
            try:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
                conn.commit()
            except BaseException:
                conn.close()
                raise
        return conn

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Apply every pending migration in one transaction; refuse a newer schema."""
        from psycopg import sql

        version_table = migrations.VERSION_TABLE
        with _translate():
            try:
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('schoolsync:migrate'), hashtext(%s))",
                    (self.schema,),
                )
                exists = conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
                ).fetchone()
                if exists is None:  # a role without CREATE on the database can use a given schema
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {version_table} (version integer PRIMARY KEY, "
                    "description text NOT NULL, applied_at timestamptz NOT NULL)"
                )
                current = self._version(conn)
                for migration in migrations.pending(current):
                    for statement in migration.postgres:
                        conn.execute(statement.encode())
                    conn.execute(
                        f"INSERT INTO {version_table} (version, description, applied_at) "
                        "VALUES (%s, %s, %s)",
                        (migration.version, migration.description, datetime.now(UTC)),
                    )
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    @staticmethod
    def _version(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(f"SELECT max(version) FROM {migrations.VERSION_TABLE}").fetchone()
        return int(row[0] or 0) if row is not None else 0

    def schema_version(self) -> int:
        """The schema's version (after the migrations applied on open)."""
        with self.unit_of_work() as uow, _translate():
            return self._version(uow._connection())

    def _release(self, conn: psycopg.Connection[Any]) -> None:
        from psycopg import pq

        try:
            if not conn.closed:
                conn.rollback()
        except Exception:  # a broken connection is simply dropped
            conn.close()
            return
        reusable = not conn.closed and conn.info.transaction_status == pq.TransactionStatus.IDLE
        self._pool.give_back(conn, reusable=reusable)

    def unit_of_work(self) -> _PostgresUnitOfWork:
        """A new unit of work (one transaction on its own connection)."""
        return _PostgresUnitOfWork(self, self._pool.take())  # type: ignore[abstract]  # repositories set per TABLES entry

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"


if TYPE_CHECKING:

    def _conforms(store: PostgresStore) -> Store:
        return store
