"""What every bundled store shares: the repository semantics, the SQL they run and the error
translation, so that the adapters differ only in their SQL dialect and connection handling.

- :class:`RepositorySet` is the base of every bundled unit of work: one repository per table
  of the registry (:data:`~schoolsync.records.tables.TABLES`), plus ``audit``.
- :class:`RepositoryBase` implements ``require`` and ``count`` over ``get`` and ``list``.
- :class:`SqlRepository` and :class:`SqlAuditLog` implement the whole
  :class:`~schoolsync.ports.Repository` and :class:`~schoolsync.ports.AuditLog` ports over a
  :class:`SqlSession` (the unit of work's connection) and a :class:`SqlDialect`.
- :func:`translate_errors` turns a database driver's exceptions into schoolsync's.
- :class:`ConnectionPool` keeps a store's idle connections.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Generic, Protocol, Self, TypeVar

import attrs

from schoolsync.errors import (
    ConcurrentWriteError,
    DuplicateRecordError,
    NotFoundError,
    SchoolsyncError,
    StorageError,
)
from schoolsync.ports import Repository, UnitOfWork
from schoolsync.records.audit import AuditEvent
from schoolsync.records.tables import Table
from schoolsync.storage.codec import (
    AUDIT_TABLE,
    TableSpec,
    decode,
    decode_event,
    encode,
    encode_event,
    utc_key,
)

__all__ = [
    "AuditFilter",
    "AuditLogBase",
    "ConnectionPool",
    "Cursor",
    "PooledStore",
    "RepositoryBase",
    "RepositorySet",
    "SqlAuditLog",
    "SqlDialect",
    "SqlRepository",
    "SqlSession",
    "translate_errors",
]

R = TypeVar("R")


class RepositorySet(UnitOfWork):
    """A unit of work's repositories, as :class:`~schoolsync.ports.UnitOfWork` names them.

    The repository attributes are declared once, by the port. Subclasses set one per table of
    :data:`~schoolsync.records.tables.TABLES` (usually in a loop, ``setattr(self, table.name,
    ...)``) and implement ``__exit__``, ``commit``, ``rollback`` and ``lock_school``.
    """

    def repository(self, table: Table[R]) -> Repository[R]:
        """The repository of *table* (the attribute named after it)."""
        repo: Repository[R] = getattr(self, table.name)
        return repo

    def __enter__(self) -> Self:
        return self


class RepositoryBase(ABC, Generic[R]):
    """``require`` and ``count`` in terms of ``get`` and ``list`` (subclasses may do better)."""

    spec: TableSpec[R]

    @abstractmethod
    def get(self, id: str) -> R | None:
        """The record with this id, or None."""

    @abstractmethod
    def list(self, *, school_id: str | None = None) -> list[R]:
        """All records, or one school's, ordered by id."""

    def get_many(self, ids: Iterable[str]) -> dict[str, R]:
        """The records with these ids, by id (absent ones left out); SQL stores read them in
        one query per 500 ids."""
        found = ((id, self.get(id)) for id in dict.fromkeys(ids))
        return {id: record for id, record in found if record is not None}

    def require(self, id: str) -> R:
        """The record with this id; raises NotFoundError if absent."""
        record = self.get(id)
        if record is None:
            raise NotFoundError(self.spec.kind, id)
        return record

    def count(self, *, school_id: str | None = None) -> int:
        """How many records :meth:`list` would return."""
        return len(self.list(school_id=school_id))


@attrs.frozen(kw_only=True)
class AuditFilter:
    """The filters of :meth:`~schoolsync.ports.AuditLog.events` (``since`` inclusive,
    ``until`` exclusive); ``None`` matches everything."""

    account_id: str | None = None
    school_id: str | None = None
    trust_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def key_filters(self) -> list[tuple[str, str]]:
        """The given key filters as ``(column, value)`` pairs."""
        pairs = (
            ("account_id", self.account_id),
            ("school_id", self.school_id),
            ("trust_id", self.trust_id),
        )
        return [(column, value) for column, value in pairs if value is not None]

    def matches(self, event: AuditEvent) -> bool:
        """True if *event* passes every filter (naive times count as UTC)."""
        return (
            all(getattr(event, column) == value for column, value in self.key_filters())
            and (self.since is None or utc_key(event.at) >= utc_key(self.since))
            and (self.until is None or utc_key(event.at) < utc_key(self.until))
        )


class AuditLogBase(ABC):
    """:meth:`~schoolsync.ports.AuditLog.events` in terms of one :class:`AuditFilter`."""

    @abstractmethod
    def append(self, event: AuditEvent) -> None:
        """Record an event."""

    @abstractmethod
    def _find(self, wanted: AuditFilter) -> list[AuditEvent]:
        """The events *wanted* matches, oldest first (equal times in append order)."""

    def events(
        self,
        *,
        account_id: str | None = None,
        school_id: str | None = None,
        trust_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Events matching every given filter, oldest first (``since`` inclusive, ``until``
        exclusive)."""
        return self._find(
            AuditFilter(
                account_id=account_id,
                school_id=school_id,
                trust_id=trust_id,
                since=since,
                until=until,
            )
        )


# --- SQL ---------------------------------------------------------------------------------------


class Cursor(Protocol):
    """The part of a DB-API cursor the SQL repositories use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlSession(Protocol):
    """A unit of work's connection, as the SQL repositories use it.

    Every call translates driver errors with :func:`translate_errors`; ``write=True`` tells
    the adapter a write follows (SQLite takes its write lock then).
    """

    def execute(self, sql: str, args: Sequence[object] = (), *, write: bool = False) -> Cursor:
        """Run one statement and return its cursor."""
        ...

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one write statement once per row."""
        ...


@attrs.frozen(kw_only=True)
class SqlDialect:
    """What differs between SQL dialects in the statements the repositories run.

    Attributes:
        param: the parameter marker (``"?"`` or ``"%s"``).
        json_param: the marker for the JSON ``data`` column (``"%s::jsonb"``).
        audit_time: turns an audit time into the ``at`` column's parameter.
    """

    param: str
    json_param: str
    audit_time: Callable[[datetime], object]


@contextmanager
def translate_errors(
    engine: str,
    driver_error: type[BaseException] | tuple[type[BaseException], ...],
    is_concurrent: Callable[[BaseException], bool],
) -> Iterator[None]:
    """Turn the driver's exceptions into :class:`~schoolsync.errors.ConcurrentWriteError`
    (when *is_concurrent* says another writer is in the way) or
    :class:`~schoolsync.errors.StorageError`; schoolsync's own errors pass through."""
    try:
        yield
    except SchoolsyncError:
        raise
    except driver_error as exc:
        if is_concurrent(exc):
            raise ConcurrentWriteError(
                f"another writer holds the lock ({engine}: {type(exc).__name__}); try again later"
            ) from exc
        raise StorageError(f"{engine} error: {type(exc).__name__}: {exc}") from exc


class SqlRepository(RepositoryBase[R]):
    """A :class:`~schoolsync.ports.Repository` over one table (see
    :mod:`schoolsync.storage.codec`): ``id`` primary key, indexed key columns, JSON ``data``."""

    def __init__(self, session: SqlSession, spec: TableSpec[R], dialect: SqlDialect) -> None:
        self.spec = spec
        self._session = session
        p = dialect.param
        t = spec.name
        cols = ("id", *spec.columns, "data")
        values = ", ".join([p] * (len(cols) - 1) + [dialect.json_param])
        insert = f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({values}) ON CONFLICT (id)"
        self._columns = cols
        self._updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[1:])
        self._get = f"SELECT data FROM {t} WHERE id = {p}"
        self._param = p
        self._insert = f"{insert} DO NOTHING"
        self._upsert = f"{insert} DO UPDATE SET {self._updates}"
        self._delete = f"DELETE FROM {t} WHERE id = {p}"
        self._list_all = f"SELECT id, data FROM {t} ORDER BY id"
        self._list_school = f"SELECT id, data FROM {t} WHERE school_id = {p} ORDER BY id"
        self._count_all = f"SELECT count(*) FROM {t}"
        self._count_school = f"SELECT count(*) FROM {t} WHERE school_id = {p}"

    def get(self, id: str) -> R | None:
        """The record with this id, or None."""
        row = self._session.execute(self._get, (id,)).fetchone()
        return None if row is None else decode(self.spec, id, row[0])

    def get_many(self, ids: Iterable[str]) -> dict[str, R]:
        """The records with these ids, by id (absent ones left out), 500 ids a query."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, R] = {}
        for first in range(0, len(wanted), 500):
            chunk = wanted[first : first + 500]
            marks = ", ".join([self._param] * len(chunk))
            sql = f"SELECT id, data FROM {self.spec.name} WHERE id IN ({marks})"
            for key, data in self._session.execute(sql, chunk).fetchall():
                found[key] = decode(self.spec, key, data)
        return found

    def add(self, record: R) -> None:
        """Insert a new record; DuplicateRecordError if the id exists."""
        row = encode(self.spec, record)
        if self._session.execute(self._insert, row, write=True).rowcount == 0:
            raise DuplicateRecordError(self.spec.kind, row[0])

    def put(self, record: R) -> None:
        """Insert or replace the record with the same id."""
        self._session.execute(self._upsert, encode(self.spec, record), write=True)

    def put_many(self, records: Iterable[R]) -> None:
        """Insert or replace many records, the last of a repeated id winning."""
        rows = self._rows(records)
        if rows:
            self._session.execute_many(self._upsert, rows)

    def _rows(self, records: Iterable[R]) -> list[tuple[str | None, ...]]:
        # One row per id, the last one winning (as if put() were called in order): an upsert
        # may not touch the same row twice in one statement.
        spec = self.spec
        return list({row[0]: row for row in (encode(spec, r) for r in records)}.values())

    def remove(self, id: str) -> None:
        """Delete the record with this id; NotFoundError if absent."""
        if self._session.execute(self._delete, (id,), write=True).rowcount == 0:
            raise NotFoundError(self.spec.kind, id)

    def list(self, *, school_id: str | None = None) -> list[R]:
        """All records, or one school's, ordered by id."""
        if school_id is None:
            rows = self._session.execute(self._list_all).fetchall()
        elif self.spec.has_school_id:
            rows = self._session.execute(self._list_school, (school_id,)).fetchall()
        else:
            return []
        spec = self.spec
        return [decode(spec, key, data) for key, data in rows]

    def count(self, *, school_id: str | None = None) -> int:
        """How many records list() would return."""
        if school_id is None:
            row = self._session.execute(self._count_all).fetchone()
        elif self.spec.has_school_id:
            row = self._session.execute(self._count_school, (school_id,)).fetchone()
        else:
            return 0
        return int(row[0])


class SqlAuditLog(AuditLogBase):
    """The append-only :class:`~schoolsync.ports.AuditLog` in the ``audit_events`` table."""

    def __init__(self, session: SqlSession, dialect: SqlDialect) -> None:
        self._session = session
        self._dialect = dialect
        p = dialect.param
        self._append = (
            f"INSERT INTO {AUDIT_TABLE} (id, at, account_id, school_id, trust_id, data) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {dialect.json_param})"
        )

    def append(self, event: AuditEvent) -> None:
        """Record an event."""
        id_, account_id, school_id, trust_id, data = encode_event(event)
        at = self._dialect.audit_time(event.at)
        self._session.execute(
            self._append, (id_, at, account_id, school_id, trust_id, data), write=True
        )

    def _find(self, wanted: AuditFilter) -> list[AuditEvent]:
        p = self._dialect.param
        where = [f"{column} = {p}" for column, _ in wanted.key_filters()]
        args: list[object] = [value for _, value in wanted.key_filters()]
        for bound, op in ((wanted.since, ">="), (wanted.until, "<")):
            if bound is not None:
                where.append(f"at {op} {p}")
                args.append(self._dialect.audit_time(bound))
        sql = f"SELECT seq, data FROM {AUDIT_TABLE}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._session.execute(sql + " ORDER BY at, seq", args).fetchall()
        return [decode_event(seq, data) for seq, data in rows]


# --- connections -------------------------------------------------------------------------------

C = TypeVar("C")


class ConnectionPool(Generic[C]):
    """The idle connections a store keeps for its next units of work (thread-safe).

    Args:
        connect: opens a new connection.
        close: closes one.
        max_idle: how many idle connections to keep.
    """

    def __init__(
        self, connect: Callable[[], C], close: Callable[[C], object], *, max_idle: int
    ) -> None:
        self._connect = connect
        self._close = close
        self._max_idle = max_idle
        self._mutex = threading.Lock()
        self._idle: list[C] = []
        self._closed = False

    def take(self) -> C:
        """An idle connection, or a new one; StorageError once the pool is closed."""
        with self._mutex:
            if self._closed:
                raise StorageError("the store is closed")
            conn = self._idle.pop() if self._idle else None
        return conn if conn is not None else self._connect()

    def give_back(self, conn: C, *, reusable: bool = True) -> None:
        """Keep *conn* for reuse if it is *reusable* and there is room; close it otherwise."""
        with self._mutex:
            if reusable and not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        self._close(conn)

    def close(self) -> None:
        """Close the idle connections; connections in use are closed when given back."""
        with self._mutex:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            self._close(conn)


class PooledStore:
    """What the SQL stores share as a :class:`~schoolsync.ports.Store`: their connection pool,
    :meth:`close`, and use as a context manager (which closes the store)."""

    _pool: ConnectionPool[Any]

    def close(self) -> None:
        """Close the idle connections; units of work still open close theirs when they end."""
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
