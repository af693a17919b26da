"""Syncing a school from a broker: the watermark kept in the store, the nightly delta, and
deletions through the soft-delete path.

* The first sync is reviewed by a person (match, plan, apply: ``docs/sync.md``) from a full
  :meth:`~schoolsync.brokers.BrokerSchool.fetch`, applied in a :func:`syncing_unit`: its
  commit writes where the fetch got to (the watermark) in the same transaction, so the sync
  and its watermark are stored together or not at all.
* :func:`nightly_sync` then fetches only the changes since that watermark (or everything, if
  there is none, the fetch options changed, or ``full=True``), runs the nightly sync
  (:func:`~schoolsync.sync.incremental_sync`: updates, joiners in synced classes, restores of
  soft-deleted people who came back, the change-size guard), soft-deletes the records the broker
  says were deleted and advances the watermark, all in ONE unit of work.

A fetch that fails raises :class:`~schoolsync.errors.BrokerError` before anything is planned;
a refused plan (:class:`~schoolsync.errors.SyncGuardError`) or any failure while writing
leaves everything, the watermark included, as it was.

Deletions are taken only from what the broker *says* was deleted: a record absent from a
delta is unchanged, never gone. Where a provider's delta cannot see every deletion
(:attr:`~schoolsync.brokers.BrokerFetch.deletions_complete` false: Xporter's ``updatedSince``
mode, Assembly, OneRoster), run a full sync from time to time (``full=True``): records absent
from a complete fetch become Out of sync, under the change-size guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

import attrs

from schoolsync.brokers._base import BrokerFetch, Watermark
from schoolsync.brokers._school import BrokerSchool
from schoolsync.ports import Notifier, Store, UnitOfWork
from schoolsync.records.brokers import SyncWatermark, watermark_id
from schoolsync.records.tables import SYNC_WATERMARKS
from schoolsync.sync.connection import MisConnection, require_active
from schoolsync.sync.incremental import incremental_sync
from schoolsync.sync.leavers import RetentionPolicy, soft_delete_in
from schoolsync.sync.plans import PlanOptions
from schoolsync.sync.records import RecordKind
from schoolsync.sync.report import SyncReport
from schoolsync.sync.state import open_unit

__all__ = [
    "BrokerSyncReport",
    "commit_watermark",
    "finish_fetch",
    "load_watermark",
    "nightly_sync",
    "syncing_unit",
]


@attrs.frozen(kw_only=True)
class BrokerSyncReport:
    """What a nightly broker sync did: the sync report, whether the fetch was a delta, the app
    ids soft-deleted because the broker deleted them, and the watermark now stored.

    ``deletions_complete`` is false when the fetch was a delta that cannot see every deletion
    (see :attr:`~schoolsync.brokers.BrokerFetch.deletions_complete`): nothing was inferred from
    absence, and a full sync (``nightly_sync(..., full=True)``) is what finds those.
    """

    report: SyncReport
    delta: bool
    requests: int
    soft_deleted: tuple[str, ...]
    watermark: Watermark
    deletions_complete: bool = True

    @classmethod
    def of(
        cls, fetch: BrokerFetch, report: SyncReport, soft_deleted: Iterable[str]
    ) -> BrokerSyncReport:
        """The report of a sync of *fetch* that soft-deleted *soft_deleted*."""
        return cls(
            report=report,
            delta=fetch.is_delta,
            requests=fetch.requests,
            soft_deleted=tuple(soft_deleted),
            watermark=fetch.watermark,
            deletions_complete=fetch.deletions_complete or not fetch.is_delta,
        )


def load_watermark(target: Store | UnitOfWork, school_id: str, provider: str) -> Watermark | None:
    """The watermark stored for *school_id* at *provider*, if any."""
    with open_unit(target) as uow:
        found = uow.repository(SYNC_WATERMARKS).get(watermark_id(school_id, provider))
    if found is None:
        return None
    return Watermark(
        provider=found.provider,
        school=found.school,
        value=found.value,
        options=found.options,
        taken_at=found.taken_at,
    )


def _put_watermark(uow: UnitOfWork, school_id: str, watermark: Watermark, at: datetime) -> None:
    uow.repository(SYNC_WATERMARKS).put(
        SyncWatermark(
            id=watermark_id(school_id, watermark.provider),
            school_id=school_id,
            provider=watermark.provider,
            school=watermark.school,
            value=watermark.value,
            options=watermark.options,
            taken_at=watermark.taken_at,
            committed_at=at,
        )
    )


class _CommitsWith:
    """A unit of work whose first :meth:`commit` first makes *extra* writes in it, so they are
    committed in the same transaction as everything else, or not at all. Everything else is
    the wrapped unit's (its ``with`` block belongs to whoever opened it)."""

    def __init__(self, uow: UnitOfWork, extra: Callable[[UnitOfWork], None]) -> None:
        self._uow = uow
        self._extra = extra
        self.committed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def __enter__(self) -> _CommitsWith:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def commit(self) -> None:
        if not self.committed:
            self._extra(self._uow)
            self.committed = True
        self._uow.commit()

    def rollback(self) -> None:
        self._uow.rollback()


@contextmanager
def syncing_unit(
    store: Store, school_id: str, fetch: BrokerFetch, *, at: datetime
) -> Iterator[UnitOfWork]:
    """A unit of work whose commit also stores *fetch*'s watermark, in the same transaction.

    Apply the sync that used *fetch* in it (``apply(plan, uow, ...)`` commits it): the
    watermark is stored with the sync's writes or, if anything fails, neither is. Leaving the
    block normally commits what is not committed yet (so a plan with nothing to write still
    stores the watermark); leaving it with an exception stores nothing. Not for dry runs::

        with syncing_unit(store, "s1", fetched, at=now) as uow:
            apply(sync_plan, uow, connection=connection, at=now)
    """
    with store.unit_of_work() as uow:
        unit = _CommitsWith(uow, lambda u: _put_watermark(u, school_id, fetch.watermark, at))
        yield cast(UnitOfWork, unit)
        if not unit.committed:
            unit.commit()


def commit_watermark(
    target: Store | UnitOfWork, school_id: str, fetch: BrokerFetch, *, at: datetime
) -> None:
    """Record where *fetch* got to, in a unit of work of its own, for a sync that was
    committed elsewhere. Prefer :func:`syncing_unit`, which stores the watermark in the sync's
    own commit (a crash between two commits would leave the sync without its watermark)."""
    with open_unit(target) as uow:
        _put_watermark(uow, school_id, fetch.watermark, at)
        uow.commit()


def _deleted_links(
    uow: UnitOfWork, school_id: str, fetch: BrokerFetch
) -> list[tuple[RecordKind, str]]:
    people = {d.id for d in fetch.deleted if d.kind == "user"}
    classes = {d.id for d in fetch.deleted if d.kind == "class"}
    out: list[tuple[RecordKind, str]] = []
    if not (people or classes):
        return out  # nothing deleted: the school's links need not be read
    for link in uow.sync_links.list(school_id=school_id):
        named = classes if link.kind is RecordKind.CLASS else people
        if link.kind is not RecordKind.YEAR_GROUP and link.mis_id in named:
            out.append((link.kind, link.app_id))
    return out


def finish_fetch(
    uow: UnitOfWork,
    school_id: str,
    fetch: BrokerFetch,
    *,
    at: datetime,
    retention: RetentionPolicy | None = None,
    actor_id: str | None = None,
) -> list[str]:
    """In the sync's unit of work (its caller holds the school's lock): soft-delete the
    records the broker says were deleted (a delta only) and store *fetch*'s watermark; returns
    the app ids soft-deleted."""
    deleted: list[str] = []
    if fetch.is_delta:
        for kind, app_id in _deleted_links(uow, school_id, fetch):
            if kind in (RecordKind.PUPIL, RecordKind.STAFF, RecordKind.CLASS):
                soft_delete_in(uow, kind, app_id, at=at, retention=retention, actor_id=actor_id)
                deleted.append(app_id)
    _put_watermark(uow, school_id, fetch.watermark, at)
    return deleted


def nightly_sync(
    source: BrokerSchool,
    store: Store,
    *,
    school_id: str,
    connection: MisConnection,
    at: datetime,
    notifier: Notifier | None = None,
    options: PlanOptions | None = None,
    retention: RetentionPolicy | None = None,
    force: bool = False,
    full: bool = False,
    actor_id: str | None = None,
) -> BrokerSyncReport:
    """Sync one school from its broker: a delta from the stored watermark (or a full fetch),
    the nightly sync, soft deletes of what the broker deleted and the new watermark, all
    committed in one unit of work.

    Only records the broker names as deleted are soft-deleted; a record absent from a delta is
    unchanged. ``full=True`` ignores the watermark and fetches everything: linked records the
    complete fetch lacks become Out of sync (under the change-size guard), which is how
    deletions a provider's deltas cannot see are found.

    Raises:
        BrokerError: the fetch failed (nothing changed; the watermark stays).
        SyncError: the connection is not authorised.
        SyncGuardError: too many synced records would go (nothing changed; the watermark stays).
    """
    require_active(connection, school_id)
    since = load_watermark(store, school_id, source.provider)
    fetch = source.fetch(None if full else since)
    deleted: list[str] = []

    def finish(uow: UnitOfWork) -> None:
        # Runs inside the sync's own commit: the soft deletes and the watermark go with it.
        uow.lock_school(school_id)
        deleted.extend(
            finish_fetch(uow, school_id, fetch, at=at, retention=retention, actor_id=actor_id)
        )

    with store.unit_of_work() as uow:
        unit = _CommitsWith(uow, finish)
        report = incremental_sync(
            fetch,
            since.taken_at if since is not None else None,
            cast(UnitOfWork, unit),
            school_id=school_id,
            connection=connection,
            at=at,
            notifier=notifier,
            options=options,
            force=force,
            actor_id=actor_id,
        )
        if not unit.committed:  # the plan had nothing to write
            unit.commit()
    return BrokerSyncReport.of(fetch, report, deleted)
