"""The start of a new academic year: move synced pupils on, import new classes, lose nothing.

Re-running the sync after the MIS has rolled over (:func:`rollover_sync`):

* previously synced pupils take their new year group and classes from the MIS;
* new classes and year groups are imported (Nursery excepted); classes the MIS no longer has
  are kept, marked Out of sync, and do not trip the change-size guard;
* pupils of the top year who are gone from the MIS are marked **leavers** (kept, Out of sync,
  not counted by the guard); their data stays until someone deletes it;
* pupils whose year group did not change while the school's did are reported as repeating a
  year; the MIS's year group is kept, never "corrected";
* in the weeks between the end of the year and the MIS's own rollover (year groups unchanged),
  nothing is moved and the report says so; run it again once the MIS has rolled over.

The rollover works from state (links, year codes), so it is idempotent: a second run finds
every pupil already moved and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Unpack

import attrs

from schoolsync.calendar import AcademicYear, Jurisdiction, YearCode, YearStart
from schoolsync.people import Pupil
from schoolsync.ports import MisSnapshot, MisSource, Store, UnitOfWork
from schoolsync.sync.incremental import (
    RunOptions,
    incremental_plan,
    run_snapshot_sync,
)
from schoolsync.sync.plans import PlanOptions, SyncPlan
from schoolsync.sync.records import RecordKind, SyncState
from schoolsync.sync.report import SyncReport
from schoolsync.sync.state import SchoolRecords, mis_key

__all__ = ["RolloverAssessment", "assess_rollover", "rollover_plan", "rollover_sync"]

#: Share of linked pupils whose year group changed above which the MIS counts as rolled over
#: (it also counts as rolled over when some pupils moved and half the synced classes are gone).
ROLLED_OVER_SHARE = 0.5


@attrs.frozen(kw_only=True)
class RolloverAssessment:
    """What the feed says about the year: has the MIS rolled over, who leaves, who repeats."""

    academic_year: AcademicYear
    mis_rolled_over: bool
    in_window: bool
    moved: int
    present: int
    top_year: str | None
    leavers: frozenset[str] = frozenset()
    repeaters: frozenset[str] = frozenset()


def _rank(code: str | None, jurisdiction: Jurisdiction) -> int | None:
    parsed = YearCode.parse_optional(code, jurisdiction)
    return None if parsed is None else parsed.number


def assess_rollover(
    snapshot: MisSnapshot,
    current: SchoolRecords,
    *,
    at: datetime,
    top_year: str | None = None,
    year_start: YearStart | None = None,
    window: timedelta = timedelta(days=70),
) -> RolloverAssessment:
    """Compare the feed's year groups with the app's to see where the school is in its year.

    Args:
        top_year: the school's last year code (``"6"``, ``"11"``, ``"13"``...); default the
            highest year code among the app's synced pupils.
        year_start: the academic year boundary (default the jurisdiction's, 1 September).
        window: how close to the boundary (either side) leavers of the top year are expected
            even before the MIS itself has rolled over.
    """
    jurisdiction = Jurisdiction.for_country(current.school.country)
    start = year_start or jurisdiction.default_start
    year = AcademicYear.containing(at.date(), start=start)
    boundary = datetime.combine(year.start_date, datetime.min.time(), tzinfo=at.tzinfo)
    next_boundary = datetime.combine(year.next().start_date, datetime.min.time(), tzinfo=at.tzinfo)
    in_window = at - boundary <= window or next_boundary - at <= window
    mis_pupils = {mis_key(p): p for p in snapshot.pupils}
    synced: list[tuple[Pupil, Pupil | None]] = []
    for link in current.links_of(RecordKind.PUPIL):
        if link.state is not SyncState.SYNCED:
            continue
        app = current.pupils.get(link.app_id)
        if app is not None:
            synced.append((app, mis_pupils.get(link.mis_id)))
    present = [(a, m) for a, m in synced if m is not None]
    moved = sum(1 for a, m in present if m is not None and a.year_code != m.year_code)
    stale_feed = snapshot.taken_at is not None and snapshot.taken_at < boundary
    mis_classes = {mis_key(c) for c in snapshot.classes}
    synced_classes = [
        lk.mis_id for lk in current.links_of(RecordKind.CLASS) if lk.state is SyncState.SYNCED
    ]
    gone_classes = sum(1 for c in synced_classes if c not in mis_classes)
    class_turnover = bool(synced_classes) and gone_classes / len(synced_classes) >= 0.5
    rolled = (
        not stale_feed
        and bool(present)
        and (moved / len(present) >= ROLLED_OVER_SHARE or (class_turnover and moved > 0))
    )
    if top_year is None:
        ranked = [
            (r, a.year_code)
            for a, _ in synced
            if a.year_code and (r := _rank(a.year_code, jurisdiction)) is not None
        ]
        top_year = max(ranked)[1] if ranked else None
    top_rank = _rank(top_year, jurisdiction)
    leavers: frozenset[str] = frozenset()
    if top_rank is not None and (rolled or in_window):
        leavers = frozenset(
            a.id for a, m in synced if m is None and _rank(a.year_code, jurisdiction) == top_rank
        )
    repeaters: frozenset[str] = frozenset()
    if rolled:
        repeaters = frozenset(
            a.id for a, m in present if m is not None and a.year_code == m.year_code
        )
    return RolloverAssessment(
        academic_year=year,
        mis_rolled_over=rolled,
        in_window=in_window,
        moved=moved,
        present=len(present),
        top_year=top_year,
        leavers=leavers,
        repeaters=repeaters,
    )


def rollover_plan(
    snapshot: MisSnapshot,
    current: SchoolRecords,
    *,
    at: datetime,
    options: PlanOptions | None = None,
    top_year: str | None = None,
    year_start: YearStart | None = None,
    sync_id: str | None = None,
) -> SyncPlan:
    """Plan the new-year sync (pure); see the module docstring for what it does."""
    assessment = assess_rollover(snapshot, current, at=at, top_year=top_year, year_start=year_start)
    notes: list[str] = []
    year = assessment.academic_year.label
    if assessment.mis_rolled_over:
        notes.append(
            f"the MIS has rolled over to {year}: {assessment.moved} of {assessment.present} "
            "synced pupils move to a new year group"
        )
    else:
        notes.append(
            f"year groups unchanged: the MIS has not rolled over to {year} yet, or this "
            "rollover was already applied; no pupil was moved. Run it again once the MIS "
            "has rolled over"
        )
    if assessment.leavers:
        notes.append(
            f"{len(assessment.leavers)} pupils of the top year ({assessment.top_year}) left: "
            "kept as leavers (Out of sync) until someone deletes them"
        )
    sync_plan = incremental_plan(
        snapshot,
        current,
        at=at,
        options=options,
        mode="rollover",
        import_new_groups=assessment.mis_rolled_over,
        expected_leavers=assessment.leavers,
        guard_exempt=(RecordKind.CLASS, RecordKind.YEAR_GROUP)
        if assessment.mis_rolled_over
        else (),
        notes=notes,
        sync_id=sync_id,
    )
    if not assessment.repeaters:
        return sync_plan
    changes = tuple(
        attrs.evolve(c, reason=c.reason + "; same year group as last year (repeating a year)")
        if c.app_id in assessment.repeaters and c.kind is RecordKind.PUPIL
        else c
        for c in sync_plan.changes
    )
    return attrs.evolve(sync_plan, changes=changes)


def rollover_sync(
    source: MisSource,
    target: Store | UnitOfWork,
    *,
    school_id: str,
    options: PlanOptions | None = None,
    top_year: str | None = None,
    year_start: YearStart | None = None,
    **run: Unpack[RunOptions],
) -> SyncReport:
    """Run the new-academic-year sync of one school in one unit of work.

    *run* is as for :func:`~schoolsync.sync.incremental_sync` (``connection``, ``at``,
    ``notifier``, ``actor_id``, ``force``, ``dry_run``, ``ids``).

    Raises:
        SyncError: the connection is not authorised.
        SyncGuardError: too many synced pupils or staff would go Out of sync (leavers of the
            top year excepted).
    """

    def planner(snapshot: MisSnapshot) -> Callable[[SchoolRecords], SyncPlan]:
        return lambda current: rollover_plan(
            snapshot,
            current,
            at=run["at"],
            options=options,
            top_year=top_year,
            year_start=year_start,
        )

    return run_snapshot_sync(
        source,
        target,
        planner,
        school_id=school_id,
        **run,
    )
