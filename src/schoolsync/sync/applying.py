"""Apply a :class:`~schoolsync.sync.plans.SyncPlan`, all or nothing, and undo a match.

:func:`apply` is the thin imperative shell around the pure plan:

1. refuses unless the MIS connection is authorised, and (unless forced) when the change-size
   guard is exceeded;
2. in one unit of work, with the school's write lock: checks that every record the plan will
   write is still as the plan saw it (else :class:`~schoolsync.errors.SyncError`, "plan is
   stale"); takes a :class:`~schoolsync.sync.records.Backup` of every record it will touch,
   **before** writing; writes records and links; appends one audit event (ids and counts only);
   commits;
3. only after the commit, sends newly imported staff a welcome
   :class:`~schoolsync.ports.OutboundMessage` through the :class:`~schoolsync.ports.Notifier`.

Any failure before the commit leaves the store as it was. :func:`unmatch` undoes a match: the app
record gets its original data back from the backup taken when it was first linked, and the MIS
record shows as New again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import attrs

from schoolsync.errors import SyncError, SyncGuardError
from schoolsync.ids import ids_or_random
from schoolsync.ports import IdSource, Notifier, OutboundMessage, Store, UnitOfWork
from schoolsync.records.audit import AuditAction, AuditEvent
from schoolsync.records.audit import action_named as _action_named
from schoolsync.records.decisions import MatchChoice
from schoolsync.serialisation import converter
from schoolsync.sync.connection import MisConnection, require_active
from schoolsync.sync.decisions import DecisionLedger, decide_in
from schoolsync.sync.leavers import ORIGINAL_BACKUP_PREFIX, RetentionPolicy, soft_delete_in
from schoolsync.sync.plans import Action, PlannedChange, SyncPlan
from schoolsync.sync.records import Backup, RecordKind, SyncLink
from schoolsync.sync.report import Outcome, ReportEntry, SyncReport
from schoolsync.sync.state import (
    SchoolRecords,
    committed_unit,
    link_id_for,
    open_unit,
    record_type,
    repository,
)

__all__ = ["apply", "original_backup_id", "report_for", "unmatch", "unmatch_in"]

_log = logging.getLogger(__name__)

_OUTCOME = {
    Action.CREATE: Outcome.CREATED,
    Action.LINK: Outcome.LINKED,
    Action.UPDATE: Outcome.UPDATED,
    Action.RESYNC: Outcome.RESYNCED,
    Action.RESTORE: Outcome.RESTORED,
    Action.MARK_OUT_OF_SYNC: Outcome.OUT_OF_SYNC,
    Action.MARK_LEAVER: Outcome.LEAVER,
    Action.NONE: Outcome.UNCHANGED,
    Action.SKIP: Outcome.SKIPPED,
    Action.NEEDS_REVIEW: Outcome.NEEDS_REVIEW,
    Action.BLOCKED_ERASED: Outcome.BLOCKED_ERASED,
}


def _sync_action(mode: str) -> str:
    """The audit action of a sync run in *mode* (a host's own mode label keeps its own string)."""
    return _action_named(f"mis_sync.{mode}")


def original_backup_id(kind: RecordKind, app_id: str) -> str:
    """The id of the backup taken when app record *app_id* was first linked (used by undo)."""
    return f"{ORIGINAL_BACKUP_PREFIX}{kind.value}:{app_id}"


def report_for(
    plan: SyncPlan, *, at: datetime, committed: bool, messages_sent: int = 0
) -> SyncReport:
    """The report of *plan*: one entry per planned change."""
    return SyncReport(
        sync_id=plan.sync_id,
        school_id=plan.school_id,
        mode=plan.mode,
        at=at,
        entries=tuple(
            ReportEntry(
                kind=c.kind,
                outcome=_OUTCOME[c.action],
                reason=c.reason,
                app_id=c.app_id,
                mis_id=c.mis_id,
                label=c.label,
                fields=tuple(fc.field for fc in c.changes),
            )
            for c in plan.changes
        ),
        notes=plan.notes,
        committed=committed,
        messages_sent=messages_sent,
    )


def _check_current(uow: UnitOfWork, c: PlannedChange) -> None:
    assert c.app_id is not None
    repo = repository(uow, c.kind)
    now = repo.get(c.app_id)
    stale = SyncError(
        f"the plan is stale: {c.kind.value} {c.app_id!r} changed since it was planned; plan again"
    )
    if c.action is Action.CREATE:
        if now is not None or uow.sync_links.get(link_id_for(c.kind, c.app_id)) is not None:
            raise stale
    elif c.action is Action.RESTORE:
        if now is not None or c.deleted_id is None or uow.deleted.get(c.deleted_id) is None:
            raise stale
    elif c.action in (Action.MARK_OUT_OF_SYNC, Action.MARK_LEAVER):
        if uow.sync_links.get(link_id_for(c.kind, c.app_id)) is None:
            raise stale
    else:
        if now != c.before:
            raise stale
        link = uow.sync_links.get(link_id_for(c.kind, c.app_id))
        if (c.action is Action.LINK) != (link is None):
            raise stale


def _backup(sync_id: str, school_id: str, c: PlannedChange, at: datetime, *, bid: str) -> Backup:
    assert c.before is not None
    assert c.app_id is not None
    return Backup(
        id=bid,
        school_id=school_id,
        kind=c.kind,
        record_id=c.app_id,
        taken_at=at,
        data=converter.unstructure(c.before),
        sync_id=sync_id,
    )


def _write(
    uow: UnitOfWork, plan: SyncPlan, at: datetime, actor_id: str | None, ids: IdSource
) -> None:
    writes = plan.writes
    for c in writes:
        _check_current(uow, c)
    # 1. Backups of every record this sync touches, before anything is written.
    backups: list[Backup] = []
    for c in writes:
        if c.before is None or c.app_id is None:
            continue
        if c.action is Action.LINK or c.action is Action.RESTORE:
            bid = original_backup_id(c.kind, c.app_id)
            backups.append(_backup(plan.sync_id, plan.school_id, c, at, bid=bid))
        if c.action is not Action.RESTORE and c.changes:
            bid = f"{plan.sync_id}:{c.kind.value}:{c.app_id}"
            backups.append(_backup(plan.sync_id, plan.school_id, c, at, bid=bid))
    if backups:
        uow.backups.put_many(backups)
    # 2. Records, per kind, in bulk.
    by_kind: dict[RecordKind, list[Any]] = {}
    restored: list[str] = []
    for c in writes:
        if c.action is Action.RESTORE and c.deleted_id is not None:
            restored.append(c.deleted_id)
        if c.after is not None and (c.action in (Action.CREATE, Action.RESTORE) or c.changes):
            by_kind.setdefault(c.kind, []).append(c.after)
    for deleted_id in restored:
        uow.deleted.remove(deleted_id)
    for kind in (RecordKind.YEAR_GROUP, RecordKind.CLASS, RecordKind.STAFF, RecordKind.PUPIL):
        if by_kind.get(kind):
            repository(uow, kind).put_many(by_kind[kind])
    # 3. Links.
    links: list[SyncLink] = []
    for c in writes:
        if c.link is None:
            continue
        if c.action in (Action.CREATE, Action.LINK, Action.RESTORE):
            links.append(attrs.evolve(c.link, linked_at=at, last_synced_at=at))
        elif c.action in (Action.MARK_OUT_OF_SYNC, Action.MARK_LEAVER):
            links.append(c.link)
        else:
            links.append(attrs.evolve(c.link, last_synced_at=at))
    if links:
        uow.sync_links.put_many(links)
    _supersede_refusals(uow, plan, at, actor_id, ids)
    counts: dict[str, int] = {}
    for c in writes:
        counts[f"{c.kind.value}.{c.action.value}"] = (
            counts.get(f"{c.kind.value}.{c.action.value}", 0) + 1
        )
    uow.audit.append(
        AuditEvent(
            id=ids.new_id(),
            at=at,
            actor_id=actor_id,
            action=_sync_action(plan.mode),
            subject_kind="school",
            subject_id=plan.school_id,
            school_id=plan.school_id,
            account_id=actor_id,
            after={"sync_id": plan.sync_id, "counts": counts},
        )
    )


def _supersede_refusals(
    uow: UnitOfWork, plan: SyncPlan, at: datetime, actor_id: str | None, ids: IdSource
) -> None:
    """A pair a person had refused ("not this one") that this plan links was matched again by
    a person (planning links it only then): remember the match in place of the refusal."""
    ledger = DecisionLedger(uow, plan.school_id)
    decisions = ledger.decisions()
    if not decisions:
        return
    for c in plan.writes:
        if (
            c.action in (Action.LINK, Action.CREATE, Action.RESTORE)
            and c.mis_id is not None
            and c.app_id is not None
            and decisions.refused(c.kind, c.mis_id, c.app_id)
        ):
            decide_in(
                uow,
                school_id=plan.school_id,
                kind=c.kind,
                choice=MatchChoice.MATCH,
                mis_id=c.mis_id,
                app_id=c.app_id,
                at=at,
                actor_id=actor_id,
                ids=ids,
                ledger=ledger,
            )


def _welcome(plan: SyncPlan, school_name: str | None) -> Iterable[OutboundMessage]:
    for c in plan.of(Action.CREATE, RecordKind.STAFF):
        after = c.after
        email = getattr(after, "email", None)
        if not c.welcome or after is None or not email:
            continue
        yield OutboundMessage(
            kind="welcome",
            to=email,
            subject=f"Welcome to {school_name}" if school_name else "Welcome",
            data={
                "staff_id": after.id,
                "school_id": plan.school_id,
                "name": getattr(after, "display_name", ""),
                "action": "set_password",
            },
        )


def apply(
    plan: SyncPlan,
    target: Store | UnitOfWork,
    *,
    connection: MisConnection,
    at: datetime,
    notifier: Notifier | None = None,
    actor_id: str | None = None,
    force: bool = False,
    ids: IdSource | None = None,
) -> SyncReport:
    """Apply *plan* in one unit of work: all of it, or (on any failure) none of it.

    Args:
        plan: from :func:`~schoolsync.sync.planning.plan` (or an incremental/rollover plan).
        target: a :class:`~schoolsync.ports.Store` (a unit of work is opened and committed) or
            an open :class:`~schoolsync.ports.UnitOfWork` (committed here; rolled back on error).
        connection: the school's MIS connection; must be authorised.
        at: the time of the sync (backups, links, audit).
        notifier: receives a ``"welcome"`` message per newly imported member of staff, after
            the commit.
        actor_id: the account running the sync, for the audit log.
        force: apply even if the change-size guard is exceeded.
        ids: makes the audit event's id (default: random, :class:`schoolsync.ids.RandomIds`).

    Raises:
        SyncError: the connection is not authorised, or the plan is stale.
        SyncGuardError: the plan would mark too many synced records Out of sync.
    """
    require_active(connection, plan.school_id)
    if plan.guard_exceeded and not force:
        _log.warning("sync of school %s refused by the change-size guard", plan.school_id)
        raise SyncGuardError(
            "refused: "
            + "; ".join(g.describe() for g in plan.guard if g.exceeded)
            + ". A broken or half-empty MIS feed looks like this; check the feed, or pass "
            "force=True if the change is real"
        )
    school_name: str | None = None
    if plan.writes:
        with open_unit(target) as uow:
            try:
                uow.lock_school(plan.school_id)
                school = uow.schools.get(plan.school_id)
                school_name = school.name if school is not None else None
                _write(uow, plan, at, actor_id, ids_or_random(ids))
                uow.commit()
            except BaseException:
                uow.rollback()
                raise
    sent = 0
    if notifier is not None:
        for message in _welcome(plan, school_name):
            notifier.send(message)
            sent += 1
    _log.info(
        "sync of school %s applied: %d write(s), %d message(s) sent",
        plan.school_id,
        len(plan.writes),
        sent,
    )
    return report_for(plan, at=at, committed=True, messages_sent=sent)


def plan_and_apply(
    target: Store | UnitOfWork,
    make_plan: Callable[[SchoolRecords], SyncPlan],
    *,
    school_id: str,
    connection: MisConnection,
    at: datetime,
    notifier: Notifier | None = None,
    actor_id: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    ids: IdSource | None = None,
) -> SyncReport:
    """Plan from the school's current records and apply, in one unit of work holding the
    school's lock (so nothing changes between the two); *dry_run* only reports the plan."""
    require_active(connection, school_id)
    with open_unit(target) as uow:
        uow.lock_school(school_id)
        sync_plan = make_plan(SchoolRecords.load(uow, school_id))
        if dry_run:
            return report_for(sync_plan, at=at, committed=False)
        return apply(
            sync_plan,
            uow,
            connection=connection,
            at=at,
            notifier=notifier,
            actor_id=actor_id,
            force=force,
            ids=ids,
        )


def unmatch(
    target: Store | UnitOfWork,
    kind: RecordKind,
    app_id: str,
    *,
    at: datetime,
    actor_id: str | None = None,
    retention: RetentionPolicy | None = None,
    ids: IdSource | None = None,
) -> SyncReport:
    """Undo the match of app record *app_id*: restore its original data, drop its link.

    The record gets back exactly the data it had before the sync first overwrote it (from the
    backup taken then); the MIS record is unlinked. The person's "not this one" is remembered
    (a :class:`~schoolsync.records.MatchDecision`, see :mod:`schoolsync.sync.decisions`): a
    review honouring the school's decisions shows the MIS record as New (not ticked for import)
    and the app record as Not matched, a plan never links the two again, and the nightly sync
    neither re-links nor imports the MIS record, until a person matches it or imports it. A
    record the sync *created* has no earlier state: it is soft-deleted (recoverable). *ids*
    makes the ids of the audit events and of the report (default: random UUIDs).

    Raises:
        SyncError: the record is not linked to an MIS record.
    """
    ids = ids_or_random(ids)
    with committed_unit(target) as uow:
        school_id, entry = unmatch_in(
            uow, kind, app_id, at=at, actor_id=actor_id, retention=retention, ids=ids
        )
    return SyncReport(
        sync_id=ids.new_id(), school_id=school_id, mode="unmatch", at=at, entries=(entry,)
    )


def unmatch_in(
    uow: UnitOfWork,
    kind: RecordKind,
    app_id: str,
    *,
    at: datetime,
    actor_id: str | None = None,
    retention: RetentionPolicy | None = None,
    ids: IdSource,
) -> tuple[str, ReportEntry]:
    """:func:`unmatch` inside *uow* (not committed): the school's id and the report's entry.

    Raises:
        SyncError: the record is not linked to an MIS record.
    """
    link = uow.sync_links.get(link_id_for(kind, app_id))
    if link is None:
        raise SyncError(f"{kind.value} {app_id!r} is not linked to an MIS record")
    uow.lock_school(link.school_id)
    backup = uow.backups.get(original_backup_id(kind, app_id))
    repo = repository(uow, kind)
    if backup is not None:
        original = converter.structure(backup.data, record_type(kind))
        uow.sync_links.remove(link.id)
        repo.put(original)
        uow.backups.remove(backup.id)
        reason = (
            "unmatched: original data restored from the backup; the MIS record is New "
            "(not imported until a person matches or imports it)"
        )
        label = getattr(original, "display_name", getattr(original, "name", ""))
    else:
        current = repo.require(app_id)
        label = getattr(current, "display_name", getattr(current, "name", ""))
        soft_delete_in(uow, kind, app_id, at=at, retention=retention, actor_id=actor_id, ids=ids)
        reason = (
            "unmatched: the record was imported by the sync, so it was soft-deleted "
            "(recoverable); the MIS record is New (not imported until a person matches or "
            "imports it)"
        )
    uow.audit.append(
        AuditEvent(
            id=ids.new_id(),
            at=at,
            actor_id=actor_id,
            action=AuditAction.MIS_SYNC_UNMATCHED,
            subject_kind=kind.value,
            subject_id=app_id,
            school_id=link.school_id,
            account_id=actor_id,
            after={"restored_from_backup": backup is not None},
        )
    )
    decide_in(
        uow,
        school_id=link.school_id,
        kind=kind,
        choice=MatchChoice.NOT_MATCH,
        mis_id=link.mis_id,
        app_id=app_id,
        at=at,
        actor_id=actor_id,
        ids=ids,
    )
    entry = ReportEntry(
        kind=kind,
        outcome=Outcome.UNLINKED,
        reason=reason,
        app_id=app_id,
        mis_id=link.mis_id,
        label=str(label),
    )
    return link.school_id, entry
