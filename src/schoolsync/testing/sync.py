"""A school already synced with its MIS, for tests of what comes after the first sync (nightly
deltas, rollover, leavers, undo) and for benchmarks: :func:`import_snapshot` imports everything
in a :class:`~schoolsync.ports.MisSnapshot` (for instance
:func:`schoolsync.sync.sample_snapshot`) as a person approving every New record would.
:func:`schoolsync.testing.brokers.import_school` does the same from a broker's connector."""

from __future__ import annotations

from datetime import datetime

from schoolsync.ports import MisSnapshot, Store
from schoolsync.records.sync import RecordKind
from schoolsync.sync import MisConnection, Pairing, SchoolRecords, SyncReport, apply, plan_pairings
from schoolsync.trusts import School

__all__ = ["import_snapshot"]


def import_snapshot(
    store: Store,
    snapshot: MisSnapshot,
    *,
    connection: MisConnection,
    at: datetime,
    school: School | None = None,
) -> SyncReport:
    """Import every year group, class, staff member and pupil of *snapshot* as New into its
    school, in one sync through *connection* at *at*; *school*, when given, is added first (in
    a unit of work of its own). Returns the sync's report."""
    if school is not None:
        with store.unit_of_work() as uow:
            uow.schools.add(school)
            uow.commit()
    pairings = [
        Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=y) for y in snapshot.year_groups
    ]
    pairings += [Pairing(kind=RecordKind.CLASS, status="new", mis=c) for c in snapshot.classes]
    pairings += [Pairing(kind=RecordKind.STAFF, status="new", mis=s) for s in snapshot.staff]
    pairings += [Pairing(kind=RecordKind.PUPIL, status="new", mis=p) for p in snapshot.pupils]
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, snapshot.school_id)
    return apply(plan_pairings(pairings, current, at=at), store, connection=connection, at=at)
