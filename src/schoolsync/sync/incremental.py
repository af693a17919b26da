"""The nightly sync: keep already-synced records in step with the MIS.

:func:`incremental_sync` reads the school's MIS (a :class:`~schoolsync.ports.MisSource`) and,
without a person reviewing matches, pairs MIS records with app records through the existing
sync links only:

* linked records whose MIS fields changed are updated (the MIS wins); Out of sync records back
  in the MIS become Synced again;
* new pupils in classes that are already synced are imported automatically (or restored, if
  they were soft-deleted within the retention period; never if they were erased);
* new staff, new classes and new year groups are **listed** for a person to import (staff get a
  welcome email only when a person imports them);
* a person's remembered decisions (:mod:`schoolsync.sync.decisions`) hold: an MIS record a
  person unmatched is neither re-linked nor imported (listed for a person), one a person
  matched by hand is linked to that app record, and Import / Do not import choices are kept;
* linked records gone from the MIS become Out of sync, subject to the change-size guard: a
  broken or half-empty feed is refused with :class:`~schoolsync.errors.SyncGuardError` instead
  of deactivating a school.

Running it twice on the same feed changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Required, TypedDict, TypeVar, Unpack

import attrs

from schoolsync.errors import SyncError
from schoolsync.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import IdSource, MisSnapshot, MisSource, Notifier, Store, UnitOfWork
from schoolsync.records.decisions import MatchChoice, MatchDecisions
from schoolsync.records.tables import MATCH_DECISIONS
from schoolsync.sync.applying import plan_and_apply
from schoolsync.sync.connection import MisConnection, require_active
from schoolsync.sync.planning import plan_pairings
from schoolsync.sync.plans import Pairing, PairStatus, PlanOptions, SyncPlan, is_nursery
from schoolsync.sync.records import RecordKind, SyncState
from schoolsync.sync.report import SyncReport
from schoolsync.sync.state import Record, SchoolRecords, get_many, mis_key, repository

__all__ = [
    "Delta",
    "SnapshotSource",
    "delta_of",
    "incremental_plan",
    "incremental_sync",
    "load_for_delta",
    "read_snapshot",
]


@attrs.frozen(kw_only=True)
class SnapshotSource:
    """A :class:`~schoolsync.ports.MisSource` over a :class:`~schoolsync.ports.MisSnapshot`
    already in memory (tests, replays, or a host that reads its MIS itself)."""

    snapshot: MisSnapshot

    def snapshot_time(self) -> datetime | None:
        """When the snapshot was taken."""
        return self.snapshot.taken_at

    def pupils(self) -> Iterator[Pupil]:
        """The snapshot's pupils."""
        return iter(self.snapshot.pupils)

    def staff(self) -> Iterator[StaffMember]:
        """The snapshot's staff."""
        return iter(self.snapshot.staff)

    def classes(self) -> Iterator[SchoolClass]:
        """The snapshot's classes."""
        return iter(self.snapshot.classes)

    def year_groups(self) -> Iterator[YearGroup]:
        """The snapshot's year groups."""
        return iter(self.snapshot.year_groups)

    def warnings(self) -> list[str]:
        """The snapshot's reader warnings."""
        return list(self.snapshot.warnings)


def read_snapshot(source: MisSource, school_id: str) -> MisSnapshot:
    """Read everything *source* holds for one school into a :class:`~schoolsync.ports.MisSnapshot`."""
    if isinstance(source, SnapshotSource):
        return source.snapshot
    return MisSnapshot.from_source(source, school_id)


@attrs.frozen(kw_only=True)
class Delta:
    """What a delta feed (changes only) says besides its records: the MIS ids of people and
    classes it deletes.

    In a delta, a linked record absent from the feed is unchanged, not gone: only the records
    named here become Out of sync. A person's classes in a delta are added to the classes
    they already have from the MIS (a removed enrolment is applied by the next full export).
    """

    deleted_people: frozenset[str] = frozenset()
    deleted_classes: frozenset[str] = frozenset()

    def deletes(self, kind: RecordKind, mis_id: str) -> bool:
        """True if the delta deletes MIS record *mis_id* of *kind* (a person or a class)."""
        if kind is RecordKind.CLASS:
            return mis_id in self.deleted_classes
        if kind in (RecordKind.PUPIL, RecordKind.STAFF):
            return mis_id in self.deleted_people
        return False


def delta_of(source: object) -> Delta | None:
    """The :class:`Delta` of *source* if it is a delta feed (``source.is_delta`` true, e.g. a
    OneRoster bundle whose manifest says ``delta``), else ``None`` (a full export)."""
    if not bool(getattr(source, "is_delta", False)):
        return None
    listed = getattr(source, "deletions", None)
    items = list(listed()) if callable(listed) else []
    return Delta(
        deleted_people=frozenset(str(d.id) for d in items if getattr(d, "kind", "") == "user"),
        deleted_classes=frozenset(str(d.id) for d in items if getattr(d, "kind", "") == "class"),
    )


def load_for_delta(
    uow: UnitOfWork, school_id: str, snapshot: MisSnapshot, delta: Delta | None
) -> SchoolRecords | None:
    """The school's records as :func:`incremental_plan` of the delta *snapshot* needs them,
    reading only the app records the delta names; ``None`` when it needs them all.

    A nightly delta names a few records (1 % of pupils changed a name, say), all already
    linked: then only those app records are read (one keyed read each), with every link,
    soft deletion, tombstone and decision of the school (the plan's guard and deletions read
    those), instead of every pupil, member of staff and class. The plan is the same as
    against :meth:`SchoolRecords.load`'s records. It returns ``None`` (read everything) for a
    full feed (*delta* ``None``: absent records go Out of sync), and for a delta with any
    record not linked, or linked to an app record that is gone (an import, a restore or a
    decision needs the whole school: new ids, emails, matches).
    """
    if delta is None:
        return None
    school = uow.schools.get(school_id)
    if school is None:
        return None  # load() says what is wrong
    links = tuple(uow.sync_links.list(school_id=school_id))
    by_mis = {(lk.kind, lk.mis_id): lk.app_id for lk in links}
    wanted: dict[RecordKind, set[str]] = {k: set() for k in RecordKind}
    named: list[tuple[RecordKind, Sequence[Record]]] = [
        (RecordKind.YEAR_GROUP, snapshot.year_groups),
        (RecordKind.CLASS, snapshot.classes),
        (RecordKind.STAFF, snapshot.staff),
        (RecordKind.PUPIL, snapshot.pupils),
    ]
    for kind, records in named:
        for record in records:
            app_id = by_mis.get((kind, mis_key(record)))
            if app_id is None:
                return None
            wanted[kind].add(app_id)
    for link in links:
        if delta.deletes(link.kind, link.mis_id):
            wanted[link.kind].add(link.app_id)
    found: dict[RecordKind, dict[str, Any]] = {}
    for kind, ids in wanted.items():
        found[kind] = get_many(repository(uow, kind), sorted(ids))
        if len(found[kind]) != len(ids):
            return None
    return SchoolRecords(
        school=school,
        pupils=found[RecordKind.PUPIL],
        staff=found[RecordKind.STAFF],
        classes=found[RecordKind.CLASS],
        year_groups=found[RecordKind.YEAR_GROUP],
        links=links,
        deleted=tuple(uow.deleted.list(school_id=school_id)),
        tombstones=tuple(uow.tombstones.list(school_id=school_id)),
        decisions=MatchDecisions(uow.repository(MATCH_DECISIONS).list(school_id=school_id)),
    )


_Person = TypeVar("_Person", Pupil, StaffMember)


def _merge_classes(person: _Person, app: Record, current: SchoolRecords) -> _Person:
    """In a delta: the person's MIS classes so far plus the delta's."""
    by_app = {
        lk.app_id: lk.mis_id
        for lk in current.links_of(RecordKind.CLASS)
        if lk.state is SyncState.SYNCED
    }
    old_refs: list[str] = [by_app[c] for c in getattr(app, "class_ids", ()) if c in by_app]
    merged = tuple(dict.fromkeys([*old_refs, *person.class_ids]))
    return attrs.evolve(person, class_ids=merged)


def _decided(kind: RecordKind, mis: Record, current: SchoolRecords) -> Pairing | None:
    """What a person's remembered decision makes of MIS record *mis*, not linked to any app
    record (``None`` when no decision is about it)."""
    decisions = current.decisions
    if not decisions:
        return None
    key = mis_key(mis)
    app_id = decisions.match_of_mis(kind, key)
    if app_id is not None:
        app = current.records(kind).get(app_id)
        if app is not None and current.link_of_app(kind, app_id) is None:
            return Pairing(kind=kind, status=PairStatus.MATCHED, mis=mis, app=app, decided=True)
        return Pairing(
            kind=kind,
            status=PairStatus.NEW,
            mis=mis,
            hold_reason="a person matched this record with an app record that is gone or "
            "linked to another MIS record: a person decides",
        )
    choice = decisions.import_choice(kind, key)
    if choice is MatchChoice.NEW:
        return Pairing(kind=kind, status=PairStatus.NEW, mis=mis)
    if choice is MatchChoice.LEAVE_OUT:
        return Pairing(kind=kind, status=PairStatus.NEW, mis=mis, selected=False)
    if decisions.unmatched_from(kind, key):
        return Pairing(
            kind=kind,
            status=PairStatus.NEW,
            mis=mis,
            hold_reason="a person unmatched this record from an app record (not this one): "
            "it is imported only when a person matches it or chooses Import in a review",
        )
    return None


def _pairings(
    snapshot: MisSnapshot,
    current: SchoolRecords,
    *,
    import_new_groups: bool,
    delta: Delta | None = None,
) -> list[Pairing]:
    out: list[Pairing] = []
    seen: dict[RecordKind, set[str]] = {k: set() for k in RecordKind}
    new_groups: dict[RecordKind, set[str]] = {RecordKind.CLASS: set(), RecordKind.YEAR_GROUP: set()}

    def linked(kind: RecordKind, mis: Record) -> Record | None:
        link = current.link_of_mis(kind, mis_key(mis))
        if link is None:
            return None
        app: Record | None = current.records(kind).get(link.app_id)
        return app

    groups: list[tuple[RecordKind, Sequence[Record]]] = [
        (RecordKind.YEAR_GROUP, snapshot.year_groups),
        (RecordKind.CLASS, snapshot.classes),
    ]
    for kind, records in groups:
        for mis in records:
            seen[kind].add(mis_key(mis))
            app = linked(kind, mis)
            decided = None if app is not None else _decided(kind, mis, current)
            if app is not None:
                out.append(Pairing(kind=kind, status=PairStatus.MATCHED, mis=mis, app=app))
            elif decided is not None:
                out.append(decided)
            elif isinstance(mis, YearGroup) and is_nursery(mis):
                out.append(Pairing(kind=kind, status=PairStatus.NEW, mis=mis))
            elif import_new_groups:
                out.append(Pairing(kind=kind, status=PairStatus.NEW, mis=mis))
                new_groups[kind].add(mis.id)
                new_groups[kind].add(mis_key(mis))
            else:
                out.append(
                    Pairing(
                        kind=kind,
                        status=PairStatus.NEW,
                        mis=mis,
                        hold_reason=f"new {kind.value.replace('_', ' ')} in the MIS: "
                        "a person decides whether to sync it",
                    )
                )
    synced_classes = {
        lk.mis_id for lk in current.links_of(RecordKind.CLASS) if lk.state is SyncState.SYNCED
    }
    ready_classes = synced_classes | new_groups[RecordKind.CLASS]
    for mis_staff in snapshot.staff:
        seen[RecordKind.STAFF].add(mis_key(mis_staff))
        app = linked(RecordKind.STAFF, mis_staff)
        if app is not None and delta is not None:
            mis_staff = _merge_classes(mis_staff, app, current)
        decided = None if app is not None else _decided(RecordKind.STAFF, mis_staff, current)
        if app is not None:
            out.append(
                Pairing(kind=RecordKind.STAFF, status=PairStatus.MATCHED, mis=mis_staff, app=app)
            )
        elif decided is not None:
            out.append(decided)
        else:
            out.append(
                Pairing(
                    kind=RecordKind.STAFF,
                    status=PairStatus.NEW,
                    mis=mis_staff,
                    hold_reason="new member of staff: listed for a person to import "
                    "(staff are never imported automatically)",
                )
            )
    for pupil in snapshot.pupils:
        seen[RecordKind.PUPIL].add(mis_key(pupil))
        app = linked(RecordKind.PUPIL, pupil)
        if app is not None and delta is not None:
            pupil = _merge_classes(pupil, app, current)
        decided = None if app is not None else _decided(RecordKind.PUPIL, pupil, current)
        if app is not None:
            out.append(
                Pairing(kind=RecordKind.PUPIL, status=PairStatus.MATCHED, mis=pupil, app=app)
            )
        elif decided is not None:
            out.append(decided)
        elif any(c in ready_classes for c in pupil.class_ids):
            out.append(Pairing(kind=RecordKind.PUPIL, status=PairStatus.NEW, mis=pupil))
        else:
            out.append(
                Pairing(
                    kind=RecordKind.PUPIL,
                    status=PairStatus.NEW,
                    mis=pupil,
                    hold_reason="new pupil not in a synced class: listed for a person",
                )
            )
    for link in current.links:
        if link.mis_id in seen[link.kind]:
            continue
        if delta is not None and not delta.deletes(link.kind, link.mis_id):
            continue  # not in the delta: unchanged
        app = current.records(link.kind).get(link.app_id)
        if app is not None:
            out.append(Pairing(kind=link.kind, status=PairStatus.NOT_MATCHED, app=app))
    return out


def incremental_plan(
    snapshot: MisSnapshot,
    current: SchoolRecords,
    *,
    at: datetime,
    since: datetime | None = None,
    options: PlanOptions | None = None,
    mode: str = "incremental",
    import_new_groups: bool = False,
    expected_leavers: Collection[str] = (),
    guard_exempt: Collection[RecordKind] = (),
    notes: Sequence[str] = (),
    sync_id: str | None = None,
    delta: Delta | None = None,
) -> SyncPlan:
    """Plan a nightly sync of *snapshot* against the app's *current* records (pure).

    Args:
        since: the previous sync's time; a snapshot taken before it is refused as stale.
        import_new_groups: import new classes and year groups too (the rollover does).
        delta: the feed holds changes only (:func:`delta_of`); absent records are unchanged.

    Raises:
        SyncError: the snapshot is older than *since*.
    """
    if since is not None and snapshot.taken_at is not None and snapshot.taken_at < since:
        raise SyncError(
            f"the MIS data was taken at {snapshot.taken_at.isoformat()}, before the last sync "
            f"({since.isoformat()}); refusing to go back in time"
        )
    pairs = _pairings(snapshot, current, import_new_groups=import_new_groups, delta=delta)
    all_notes = list(notes) + [f"MIS warning: {w}" for w in snapshot.warnings]
    return plan_pairings(
        pairs,
        current,
        at=at,
        options=options,
        mode=mode,
        sync_id=sync_id,
        expected_leavers=expected_leavers,
        guard_exempt=guard_exempt,
        notes=all_notes,
    )


def incremental_sync(
    source: MisSource,
    since: datetime | None,
    target: Store | UnitOfWork,
    *,
    school_id: str,
    options: PlanOptions | None = None,
    **run: Unpack[RunOptions],
) -> SyncReport:
    """Run the nightly sync of one school: plan from the links, then apply, in one unit of work.

    Args:
        source: the school's MIS: a full export, or a delta feed (changes since the last
            export, with deletions; see :class:`Delta`).
        since: when the last sync ran (``None`` for the first).
        target: the store (or an open unit of work).
        connection: must be authorised (else :class:`~schoolsync.errors.SyncError`).
        at: the time of this sync.
        options: :class:`PlanOptions`.
        notifier: receives the welcome messages of new staff (see :func:`apply`).
        actor_id: the account running the sync, for the audit log.
        dry_run: plan and report without writing.
        force: apply even if the change-size guard is exceeded.
        ids: makes the audit event's id (default: random UUIDs).

    Raises:
        SyncError: the connection is not authorised, or the feed is older than *since*.
        SyncGuardError: too many synced records would go Out of sync.
    """

    def planner(snapshot: MisSnapshot) -> Callable[[SchoolRecords], SyncPlan]:
        delta = delta_of(source)
        return lambda current: incremental_plan(
            snapshot, current, at=run["at"], since=since, options=options, delta=delta
        )

    return run_snapshot_sync(source, target, planner, school_id=school_id, **run)


class RunOptions(TypedDict, total=False):
    """How a sync from an MIS feed runs (:func:`incremental_sync` and
    :func:`~schoolsync.sync.rollover_sync` take these as keywords): ``connection`` (must be
    authorised) and ``at`` (the time of the sync) are required; ``notifier``, ``actor_id``,
    ``force``, ``dry_run`` and ``ids`` are as for :func:`~schoolsync.sync.apply`."""

    connection: Required[MisConnection]
    at: Required[datetime]
    notifier: Notifier | None
    actor_id: str | None
    force: bool
    dry_run: bool
    ids: IdSource | None


#: The keywords of :class:`RunOptions` a caller must give.
_RUN_REQUIRED = frozenset({"connection", "at"})


def _check_run_options(run: Mapping[str, object]) -> None:
    """Misspelt or missing keywords are a ``TypeError``, as for an explicit signature."""
    unknown = sorted(set(run) - set(RunOptions.__annotations__))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
    missing = sorted(_RUN_REQUIRED - set(run))
    if missing:
        raise TypeError(f"missing required keyword argument(s): {', '.join(missing)}")


def run_snapshot_sync(
    source: MisSource,
    target: Store | UnitOfWork,
    planner: Callable[[MisSnapshot], Callable[[SchoolRecords], SyncPlan]],
    *,
    school_id: str,
    **run: Unpack[RunOptions],
) -> SyncReport:
    """Check the connection and read the school's feed from *source* once; then plan with
    ``planner(snapshot)`` against the school's current records and apply, in one unit of work
    holding the school's lock (see :func:`~schoolsync.sync.applying.plan_and_apply`)."""
    _check_run_options(run)
    require_active(run["connection"], school_id)
    planned = planner(read_snapshot(source, school_id))
    return plan_and_apply(target, planned, school_id=school_id, **run)
