"""Syncing a school from a broker: the watermark kept in the store, the nightly delta, and
deletions through the soft-delete path.

* The first sync is reviewed by a person (match, plan, apply: ``docs/sync.md``) from a full
  :meth:`~schoolsync.brokers.BrokerSchool.fetch`; once it has committed,
  :func:`commit_watermark` records where the fetch got to.
* :func:`nightly_sync` then fetches only the changes since that watermark (or everything, if
  there is none or the fetch options changed), runs the nightly sync
  (:func:`~schoolsync.sync.incremental_sync`: updates, joiners in synced classes, restores of
  soft-deleted people who came back, the change-size guard), soft-deletes the records the broker
  says were deleted, and only then advances the watermark.

A fetch that fails raises :class:`~schoolsync.errors.BrokerError` before anything is planned;
a refused plan (:class:`~schoolsync.errors.SyncGuardError`) leaves the watermark where it was.
"""

from __future__ import annotations

from datetime import datetime

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

__all__ = ["BrokerSyncReport", "commit_watermark", "load_watermark", "nightly_sync"]


@attrs.frozen(kw_only=True)
class BrokerSyncReport:
    """What a nightly broker sync did: the sync report, whether the fetch was a delta, the app
    ids soft-deleted because the broker deleted them, and the watermark now stored."""

    report: SyncReport
    delta: bool
    requests: int
    soft_deleted: tuple[str, ...]
    watermark: Watermark


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


def commit_watermark(
    target: Store | UnitOfWork, school_id: str, fetch: BrokerFetch, *, at: datetime
) -> None:
    """Record where *fetch* got to, after the sync that used it has committed (the reviewed
    first sync). The next :func:`nightly_sync` continues from there."""
    with open_unit(target) as uow:
        _put_watermark(uow, school_id, fetch.watermark, at)
        uow.commit()


def _deleted_links(
    uow: UnitOfWork, school_id: str, fetch: BrokerFetch
) -> list[tuple[RecordKind, str]]:
    people = {d.id for d in fetch.deleted if d.kind == "user"}
    classes = {d.id for d in fetch.deleted if d.kind == "class"}
    out: list[tuple[RecordKind, str]] = []
    for link in uow.sync_links.list(school_id=school_id):
        named = classes if link.kind is RecordKind.CLASS else people
        if link.kind is not RecordKind.YEAR_GROUP and link.mis_id in named:
            out.append((link.kind, link.app_id))
    return out


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
    actor_id: str | None = None,
) -> BrokerSyncReport:
    """Sync one school from its broker: a delta from the stored watermark (or a full fetch),
    the nightly sync, soft deletes of what the broker deleted, then the new watermark.

    Raises:
        BrokerError: the fetch failed (nothing changed; the watermark stays).
        SyncError: the connection is not authorised.
        SyncGuardError: too many synced records would go (nothing changed; the watermark stays).
    """
    require_active(connection, school_id)
    since = load_watermark(store, school_id, source.provider)
    fetch = source.fetch(since)
    report = incremental_sync(
        fetch,
        since.taken_at if since is not None else None,
        store,
        school_id=school_id,
        connection=connection,
        at=at,
        notifier=notifier,
        options=options,
        force=force,
        actor_id=actor_id,
    )
    deleted: list[str] = []
    with store.unit_of_work() as uow:
        uow.lock_school(school_id)
        if fetch.is_delta:
            for kind, app_id in _deleted_links(uow, school_id, fetch):
                if kind in (RecordKind.PUPIL, RecordKind.STAFF, RecordKind.CLASS):
                    soft_delete_in(uow, kind, app_id, at=at, retention=retention, actor_id=actor_id)
                    deleted.append(app_id)
        _put_watermark(uow, school_id, fetch.watermark, at)
        uow.commit()
    return BrokerSyncReport(
        report=report,
        delta=fetch.is_delta,
        requests=fetch.requests,
        soft_deleted=tuple(deleted),
        watermark=fetch.watermark,
    )
