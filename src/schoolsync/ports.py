"""Ports: what schoolsync needs from the outside world, as :class:`typing.Protocol` classes.

A host app implements these for its own database, MIS connection, mail system and clock;
schoolsync ships implementations (``schoolsync.testing.memory``, ``schoolsync.storage.sqlite``,
``schoolsync.storage.postgres``) and a contract suite (``schoolsync.testing.contracts``) every
implementation must pass.

:class:`ForwardingUnitOfWork` and :class:`ForwardingAuditLog` are the base of a wrapper that
watches or changes some calls of a unit of work and passes the rest through.

Records are attrs classes with a string ``id``. Records that belong to one school have a
``school_id``; :meth:`Repository.list` filters on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import attrs

from schoolsync.records import (
    Account,
    AuditEvent,
    Backup,
    DeletedRecord,
    Grant,
    Membership,
    Pupil,
    RoleAssignment,
    School,
    SchoolClass,
    StaffMember,
    SyncLink,
    Tombstone,
    Trust,
    YearGroup,
)
from schoolsync.records.messages import OutboundMessage
from schoolsync.records.tables import Table

__all__ = [
    "AuditLog",
    "Clock",
    "ForwardingAuditLog",
    "ForwardingUnitOfWork",
    "IdSource",
    "MisSnapshot",
    "MisSource",
    "Notifier",
    "OutboundMessage",
    "Repository",
    "Store",
    "TokenSource",
    "UnitOfWork",
]

R = TypeVar("R")


class Repository(Protocol[R]):
    """Records of one kind, keyed by ``id``. Changes are visible within the unit of work at once
    and to others only after :meth:`UnitOfWork.commit`."""

    def get(self, id: str) -> R | None:
        """The record with this id, or ``None``."""
        ...

    def require(self, id: str) -> R:
        """The record with this id; raises :class:`~schoolsync.errors.NotFoundError` if absent."""
        ...

    def add(self, record: R) -> None:
        """Insert a new record; raises :class:`~schoolsync.errors.DuplicateRecordError` if the id exists."""
        ...

    def put(self, record: R) -> None:
        """Insert or replace the record with the same id."""
        ...

    def put_many(self, records: Iterable[R]) -> None:
        """Insert or replace many records (adapters do this in bulk)."""
        ...

    def remove(self, id: str) -> None:
        """Delete the record with this id; raises :class:`~schoolsync.errors.NotFoundError` if absent."""
        ...

    def list(self, *, school_id: str | None = None) -> list[R]:
        """All records, or those of one school, ordered by id."""
        ...

    def count(self, *, school_id: str | None = None) -> int:
        """How many records :meth:`list` would return."""
        ...


class AuditLog(Protocol):
    """The append-only audit log."""

    def append(self, event: AuditEvent) -> None:
        """Record an event. Events are never changed or removed."""
        ...

    def events(
        self,
        *,
        account_id: str | None = None,
        school_id: str | None = None,
        trust_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Events matching every given filter, oldest first (``since`` inclusive, ``until`` exclusive)."""
        ...


class UnitOfWork(Protocol):
    """One all-or-nothing change. Leaving the ``with`` block without :meth:`commit` rolls back.

    It has one repository per table of the registry
    (:data:`schoolsync.records.tables.TABLES`): as the attribute named after the table, and
    through :meth:`repository`.
    """

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

    def repository(self, table: Table[R]) -> Repository[R]:
        """The repository of *table* (any entry of :data:`schoolsync.records.tables.TABLES`).

        ``uow.repository(PUPILS)`` is ``uow.pupils``; tables added after these attributes
        are reached only this way.
        """
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make every change in this unit of work durable and visible, at once."""
        ...

    def rollback(self) -> None:
        """Discard every change made since the unit of work began (or last committed)."""
        ...

    def lock_school(self, school_id: str) -> None:
        """Take the school's write lock until the unit of work commits, rolls back or ends.

        Two units of work changing the same school are serialised or the second is refused
        with :class:`~schoolsync.errors.ConcurrentWriteError`; never interleaved. Take the lock
        before reading what you are about to change. Adapters may lock more than the school
        (the SQLite store serialises all writers).
        """
        ...

    def lock_trust(self, trust_id: str) -> None:
        """Take the trust's write lock until the unit of work commits, rolls back or ends.

        Changes whose rule spans the trust (its admins and nominations, a role capped per
        trust, grants, memberships, a bulk change set) take it, *before* reading what they
        are about to change, so two such changes to one trust are serialised (or the second is
        refused with :class:`~schoolsync.errors.ConcurrentWriteError`), never interleaved.
        Take the trust lock before any school lock of the same unit of work (trusts first,
        then schools in sorted order), so that two writers never wait for each other.
        """
        ...


class ForwardingAuditLog:
    """An :class:`AuditLog` that hands every call to :attr:`inner`.

    The base of a wrapper that watches or changes some calls (override :meth:`append`) and
    passes the rest through unchanged.
    """

    def __init__(self, inner: AuditLog) -> None:
        self._inner = inner

    @property
    def inner(self) -> AuditLog:
        """The audit log calls are handed to."""
        return self._inner

    def append(self, event: AuditEvent) -> None:
        """Record an event in :attr:`inner`."""
        self.inner.append(event)

    def events(
        self,
        *,
        account_id: str | None = None,
        school_id: str | None = None,
        trust_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """:attr:`inner`'s events matching every given filter."""
        return self.inner.events(
            account_id=account_id,
            school_id=school_id,
            trust_id=trust_id,
            since=since,
            until=until,
        )


class ForwardingUnitOfWork:
    """A :class:`UnitOfWork` that hands every call to :attr:`inner`.

    The base of a wrapper that watches or changes some calls (a commit, the audit log, the
    repositories) and passes the rest through: repositories, ``audit`` and anything else the
    inner unit of work offers beyond the port are looked up on :attr:`inner` unless the
    subclass sets its own (names starting with ``_`` are not passed through).
    """

    def __init__(self, inner: UnitOfWork) -> None:
        #: The unit of work calls are handed to (replaced by what its ``__enter__`` returns).
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def repository(self, table: Table[R]) -> Repository[R]:
        """:attr:`inner`'s repository of *table*."""
        return self.inner.repository(table)

    def __enter__(self) -> Self:
        self.inner = self.inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.inner.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        """Commit :attr:`inner`."""
        self.inner.commit()

    def rollback(self) -> None:
        """Roll :attr:`inner` back."""
        self.inner.rollback()

    def lock_school(self, school_id: str) -> None:
        """:attr:`inner`'s school lock."""
        self.inner.lock_school(school_id)

    def lock_trust(self, trust_id: str) -> None:
        """:attr:`inner`'s trust lock."""
        self.inner.lock_trust(trust_id)


class Store(Protocol):
    """A place records live. Each :meth:`unit_of_work` call starts a new unit of work."""

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work, to be used as a context manager."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


class Clock(Protocol):
    """Time as a port: the domain never reads the system clock itself."""

    def now(self) -> datetime:
        """The current time (timezone-aware)."""
        ...


class IdSource(Protocol):
    """Record ids as a port: the domain never draws random ids itself.

    :class:`schoolsync.ids.RandomIds` (UUIDs) in production, ``SequentialIds`` from
    :mod:`schoolsync.testing` for tests and replays.
    """

    def new_id(self) -> str:
        """A new id, unique among the ids this source gives."""
        ...


class TokenSource(Protocol):
    """Secrets as a port (the three calls of :mod:`secrets` the library needs).

    :class:`schoolsync.ids.SystemTokens` (the operating system's CSPRNG) in production,
    ``SeededTokens`` from :mod:`schoolsync.testing` for repeatable tests only.
    """

    def token_urlsafe(self, nbytes: int) -> str:
        """A URL-safe text token of *nbytes* random bytes."""
        ...

    def token_bytes(self, nbytes: int) -> bytes:
        """*nbytes* random bytes."""
        ...

    def choice(self, alphabet: str) -> str:
        """One character of *alphabet*, chosen at random."""
        ...


class Notifier(Protocol):
    """Delivers outbound messages (email, in-app notices) on the host's behalf."""

    def send(self, message: OutboundMessage) -> None:
        """Deliver or queue *message*."""
        ...


@attrs.frozen(kw_only=True)
class MisSnapshot:
    """What an MIS source read for one school, with the time the export was taken.

    In a notebook a snapshot shows itself as its tables (``_repr_html_``) and converts in one
    call: ``snapshot.to_pandas()`` (or ``to_polars()``) gives the four named frames
    ``pupils``, ``staff``, ``classes`` and ``year_groups``; ``snapshot.to_pandas("pupils")``
    one of them (pandas and polars are extras: ``pip install 'schoolsync[pandas]'``).
    """

    school_id: str
    taken_at: datetime | None
    pupils: Sequence[Pupil]
    staff: Sequence[StaffMember]
    classes: Sequence[SchoolClass]
    year_groups: Sequence[YearGroup]
    warnings: Sequence[str] = ()

    @classmethod
    def from_source(cls, source: MisSource, school_id: str | None = None) -> MisSnapshot:
        """Read everything *source* holds into a snapshot (*school_id* defaults to the
        source's own ``school_id``), e.g. ``MisSnapshot.from_source(source).to_pandas()``.

        Raises:
            ValidationError: no *school_id* given and the source has none.
        """
        school = school_id or getattr(source, "school_id", None)
        if not isinstance(school, str) or not school:
            from schoolsync.errors import ValidationError

            raise ValidationError("school_id", None, "the source names no school: pass school_id")
        return cls(
            school_id=school,
            taken_at=source.snapshot_time(),
            pupils=tuple(source.pupils()),
            staff=tuple(source.staff()),
            classes=tuple(source.classes()),
            year_groups=tuple(source.year_groups()),
            warnings=tuple(source.warnings()),
        )

    def to_rows(self, table: str = "pupils") -> list[dict[str, Any]]:
        """One plain row per record of *table* (``"pupils"``, ``"staff"``, ``"classes"`` or
        ``"year_groups"``): a key per field, identifiers as text, several values joined with
        ``"; "``.

        Raises:
            ValidationError: *table* is not one of the four.
        """
        from schoolsync.tables import snapshot_rows

        return snapshot_rows(self, table)

    def to_pandas(self, table: str | None = None) -> Any:
        """The snapshot as pandas DataFrames: ``{"pupils": ..., "staff": ..., "classes": ...,
        "year_groups": ...}``, or the one frame of *table*.

        Raises:
            ModuleNotFoundError: pandas is not installed (``pip install 'schoolsync[pandas]'``).
            ValidationError: *table* is not one of the four.
        """
        from schoolsync.tables import snapshot_frames

        return snapshot_frames(self, "pandas", table)

    def to_polars(self, table: str | None = None) -> Any:
        """The snapshot as polars DataFrames (as :meth:`to_pandas`).

        Raises:
            ModuleNotFoundError: polars is not installed (``pip install 'schoolsync[polars]'``).
            ValidationError: *table* is not one of the four.
        """
        from schoolsync.tables import snapshot_frames

        return snapshot_frames(self, "polars", table)

    def _repr_html_(self) -> str:
        from schoolsync.tables import snapshot_html

        return snapshot_html(self)


class MisSource(Protocol):
    """Reads one school's records from its MIS (an export file, an API...)."""

    def snapshot_time(self) -> datetime | None:
        """When the source's data was taken, if known."""
        ...

    def pupils(self) -> Iterator[Pupil]:
        """Pupils, streamed."""
        ...

    def staff(self) -> Iterator[StaffMember]:
        """Staff, streamed."""
        ...

    def classes(self) -> Iterator[SchoolClass]:
        """Classes (with their year groups), streamed."""
        ...

    def year_groups(self) -> Iterator[YearGroup]:
        """Year groups, streamed."""
        ...

    def warnings(self) -> list[str]:
        """Everything tolerated while reading (unknown columns, lenient date formats...)."""
        ...
