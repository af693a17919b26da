"""Leavers and erasure: soft delete, restore, purge after retention, immediate erasure.

* :func:`soft_delete` moves a record into the ``deleted`` repository, recoverable for the
  retention period (:class:`RetentionPolicy`, 6 months by default); :func:`restore_deleted`
  brings it back. A sync restores a soft-deleted record whose MIS id or UPN reappears within
  the retention period instead of importing a duplicate (see :mod:`schoolsync.sync.planning`).
* :func:`purge_expired` removes expired soft deletions for good (with their backups and links).
* :func:`erase` removes a person at once, everywhere, and leaves a
  :class:`~schoolsync.sync.records.Tombstone` per identifier: a keyed hash (HMAC-SHA256 with a
  key the host holds), no personal data. The next sync refuses to re-import them silently.
* Purges and erasures are audit events holding ids and counts only, never personal data.
  Every function here takes ``ids``, the :class:`~schoolsync.ports.IdSource` of those events'
  ids (default: random UUIDs, :class:`schoolsync.ids.RandomIds`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
from dateutil.relativedelta import relativedelta

from schoolsync.errors import NotFoundError, SyncError, ValidationError
from schoolsync.ids import ids_or_random
from schoolsync.ports import IdSource, Store, UnitOfWork
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.serialisation import converter
from schoolsync.sync.identity import identity_hashes
from schoolsync.sync.records import DeletedRecord, RecordKind, Tombstone
from schoolsync.sync.state import link_id_for, open_unit, record_type, repository

__all__ = [
    "ORIGINAL_BACKUP_PREFIX",
    "PurgeResult",
    "RetentionPolicy",
    "erase",
    "prune_backups",
    "purge_expired",
    "restore_deleted",
    "soft_delete",
]


@attrs.frozen(kw_only=True)
class RetentionPolicy:
    """How long a soft-deleted record stays recoverable (default 6 calendar months).

    ``legal_hold`` suspends purging altogether (e.g. records that may be needed as evidence).
    """

    months: int = 6
    days: int = 0
    legal_hold: bool = False

    def __attrs_post_init__(self) -> None:
        if self.months < 0 or self.days < 0 or (self.months == 0 and self.days == 0):
            raise ValidationError(
                "retention", (self.months, self.days), "must be a positive period"
            )

    def purge_after(self, deleted_at: datetime) -> datetime:
        """When a record deleted at *deleted_at* may be purged."""
        result: datetime = (
            deleted_at + relativedelta(months=self.months) + timedelta(days=self.days)
        )
        return result


#: Backups whose id starts with this are the state of a record before it was first linked,
#: kept while the link lasts so that :func:`schoolsync.sync.unmatch` can restore it.
ORIGINAL_BACKUP_PREFIX = "original:"


@attrs.frozen(kw_only=True)
class PurgeResult:
    """What a purge removed: counts and the app ids (no personal data)."""

    purged: tuple[str, ...] = ()
    kept_on_hold: int = 0


def _event(
    *,
    at: datetime,
    actor_id: str | None,
    action: str,
    kind: RecordKind,
    record_id: str,
    school_id: str,
    after: dict[str, object] | None = None,
    ids: IdSource,
) -> AuditEvent:
    return AuditEvent(
        id=ids.new_id(),
        at=at,
        actor_id=actor_id,
        action=action,
        subject_kind=kind.value,
        subject_id=record_id,
        school_id=school_id,
        account_id=actor_id,
        after=after,
    )


def soft_delete_in(
    uow: UnitOfWork,
    kind: RecordKind,
    record_id: str,
    *,
    at: datetime,
    retention: RetentionPolicy | None = None,
    actor_id: str | None = None,
    ids: IdSource | None = None,
) -> DeletedRecord:
    """Soft-delete within *uow* (no commit). See :func:`soft_delete`."""
    retention = retention or RetentionPolicy()
    repo = repository(uow, kind)
    record = repo.require(record_id)
    link = uow.sync_links.get(link_id_for(kind, record_id))
    upn = getattr(record, "upn", None)
    deleted = DeletedRecord(
        id=f"{kind.value}:{record_id}:{at.isoformat()}",
        school_id=record.school_id,
        kind=kind,
        record_id=record_id,
        deleted_at=at,
        purge_after=retention.purge_after(at),
        data=converter.unstructure(record),
        mis_id=(link.mis_id if link is not None else None) or getattr(record, "mis_id", None),
        upn=None if upn is None else str(upn),
    )
    uow.deleted.put(deleted)
    repo.remove(record_id)
    if link is not None:
        uow.sync_links.remove(link.id)
    uow.audit.append(
        _event(
            at=at,
            actor_id=actor_id,
            action=AuditAction.RECORD_SOFT_DELETED,
            kind=kind,
            record_id=record_id,
            school_id=record.school_id,
            after={"purge_after": deleted.purge_after.isoformat()},
            ids=ids_or_random(ids),
        )
    )
    return deleted


def soft_delete(
    target: Store | UnitOfWork,
    kind: RecordKind,
    record_id: str,
    *,
    at: datetime,
    retention: RetentionPolicy | None = None,
    actor_id: str | None = None,
    ids: IdSource | None = None,
) -> DeletedRecord:
    """Delete a record recoverably: it leaves the live repository (and its sync link goes).

    Returns the :class:`~schoolsync.sync.records.DeletedRecord`, recoverable until its
    ``purge_after``.

    Raises:
        NotFoundError: there is no such record.
    """
    with open_unit(target) as uow:
        deleted = soft_delete_in(
            uow, kind, record_id, at=at, retention=retention, actor_id=actor_id, ids=ids
        )
        uow.commit()
    return deleted


def restore_deleted(
    target: Store | UnitOfWork,
    deleted_id: str,
    *,
    at: datetime,
    actor_id: str | None = None,
    ids: IdSource | None = None,
) -> object:
    """Bring a soft-deleted record back exactly as it was; returns the record.

    Raises:
        NotFoundError: no such deleted record (or it was purged).
        SyncError: the retention period is over, or a live record has the same id.
    """
    with open_unit(target) as uow:
        deleted = uow.deleted.require(deleted_id)
        if deleted.purge_after <= at:
            raise SyncError(f"deleted record {deleted_id!r} is past its retention period")
        repo = repository(uow, deleted.kind)
        if repo.get(deleted.record_id) is not None:
            raise SyncError(f"a live {deleted.kind.value} with id {deleted.record_id!r} exists")
        record = converter.structure(deleted.data, record_type(deleted.kind))
        repo.add(record)
        uow.deleted.remove(deleted_id)
        uow.audit.append(
            _event(
                at=at,
                actor_id=actor_id,
                action=AuditAction.RECORD_RESTORED,
                kind=deleted.kind,
                record_id=deleted.record_id,
                school_id=deleted.school_id,
                ids=ids_or_random(ids),
            )
        )
        uow.commit()
    return record


def _remove_backups(uow: UnitOfWork, school_id: str, kind: RecordKind, record_id: str) -> int:
    gone = [
        b.id
        for b in uow.backups.list(school_id=school_id)
        if b.kind is kind and b.record_id == record_id
    ]
    for bid in gone:
        uow.backups.remove(bid)
    return len(gone)


def purge_expired(
    target: Store | UnitOfWork,
    *,
    at: datetime,
    school_id: str | None = None,
    retention: RetentionPolicy | None = None,
    actor_id: str | None = None,
    ids: IdSource | None = None,
) -> PurgeResult:
    """Remove soft-deleted records whose retention period is over, for good.

    Their backups go too. Each purge is an audit event with ids only. Under a legal hold
    (``retention.legal_hold``) nothing is purged.
    """
    with open_unit(target) as uow:
        due = [d for d in uow.deleted.list(school_id=school_id) if d.purge_after <= at]
        if retention is not None and retention.legal_hold:
            return PurgeResult(kept_on_hold=len(due))
        purged = []
        event_ids = ids_or_random(ids)
        for d in due:
            backups = _remove_backups(uow, d.school_id, d.kind, d.record_id)
            uow.deleted.remove(d.id)
            purged.append(d.record_id)
            uow.audit.append(
                _event(
                    at=at,
                    actor_id=actor_id,
                    action=AuditAction.RECORD_PURGED,
                    kind=d.kind,
                    record_id=d.record_id,
                    school_id=d.school_id,
                    after={"backups_removed": backups},
                    ids=event_ids,
                )
            )
        uow.commit()
    return PurgeResult(purged=tuple(purged))


def prune_backups(
    target: Store | UnitOfWork,
    *,
    before: datetime,
    school_id: str | None = None,
) -> int:
    """Remove the per-sync backups taken before *before* (backups age out on a rotation).

    The backup of a record's state before it was first linked is kept while the record is
    linked (undo needs it); once the link is gone it is pruned too. Returns how many went.
    """
    with open_unit(target) as uow:
        linked = {(lk.kind, lk.app_id) for lk in uow.sync_links.list(school_id=school_id)}
        gone = [
            b.id
            for b in uow.backups.list(school_id=school_id)
            if b.taken_at < before
            and not (b.id.startswith(ORIGINAL_BACKUP_PREFIX) and (b.kind, b.record_id) in linked)
        ]
        for bid in gone:
            uow.backups.remove(bid)
        uow.commit()
    return len(gone)


def erase(
    target: Store | UnitOfWork,
    kind: RecordKind,
    record_id: str,
    *,
    key: bytes,
    at: datetime,
    school_id: str,
    actor_id: str | None = None,
    ids: IdSource | None = None,
) -> tuple[Tombstone, ...]:
    """Erase a person now: the live or soft-deleted record, its link and backups all go.

    Leaves one :class:`~schoolsync.sync.records.Tombstone` per identifier (MIS id, UPN, former
    UPNs), each a keyed hash with *key*, so the next sync does not silently re-import them.

    Raises:
        NotFoundError: neither a live nor a soft-deleted record has this id at the school.
    """
    with open_unit(target) as uow:
        repo = repository(uow, kind)
        record = repo.get(record_id)
        if record is not None and record.school_id != school_id:
            record = None
        deleted = [
            d
            for d in uow.deleted.list(school_id=school_id)
            if d.kind is kind and d.record_id == record_id
        ]
        if record is None and not deleted:
            raise NotFoundError(kind.value, record_id)
        sources: list[object] = []
        link = uow.sync_links.get(link_id_for(kind, record_id))
        if record is not None:
            sources.append(record)
            repo.remove(record_id)
        for d in deleted:
            sources.append(converter.structure(d.data, record_type(kind)))
            if d.mis_id:
                sources.append(_Ids(mis_id=d.mis_id, upn=d.upn))
            uow.deleted.remove(d.id)
        if link is not None:
            sources.append(_Ids(mis_id=link.mis_id, upn=link.upn))
            uow.sync_links.remove(link.id)
        hashes: list[str] = []
        for src in sources:
            for h in identity_hashes(kind, src, key):
                if h not in hashes:
                    hashes.append(h)
        tombstones = tuple(
            Tombstone(
                id=f"{school_id}:{h[:32]}", school_id=school_id, kind=kind, key_hash=h, erased_at=at
            )
            for h in hashes
        )
        uow.tombstones.put_many(tombstones)
        backups = _remove_backups(uow, school_id, kind, record_id)
        uow.audit.append(
            _event(
                at=at,
                actor_id=actor_id,
                action=AuditAction.RECORD_ERASED,
                kind=kind,
                record_id=record_id,
                school_id=school_id,
                after={"tombstones": len(tombstones), "backups_removed": backups},
                ids=ids_or_random(ids),
            )
        )
        uow.commit()
    return tombstones


@attrs.frozen(kw_only=True)
class _Ids:
    mis_id: str | None
    upn: str | None
