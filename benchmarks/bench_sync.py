"""MIS sync benchmarks: ``python benchmarks/bench_sync.py [--quick]``.

1. One school (1,500 pupils, 100 staff, 14 classes) in the embedded SQLite store:
   a. first sync: match (issue 6) + plan + apply, the app already holding every pupil under
      slightly different data (so every pupil is linked and overwritten, backups taken);
   b. a re-run of the same sync (plan finds nothing to do).
   Target: plan + apply under 2 s.
2. Nightly sync of a trust: 60 schools x 1,500 pupils (90,000) in one SQLite file, 1 % of
   pupils changed (names), a few joiners and leavers per school. Target: under 60 s.

``--quick`` runs 300 pupils and 5 schools.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
from schoolsync.ports import MisSnapshot
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import (
    MisConnection,
    Pairing,
    RecordKind,
    SchoolRecords,
    SnapshotSource,
    apply,
    authorise,
    incremental_sync,
    plan,
    plan_pairings,
)
from schoolsync.sync.sample import evolve_snapshot, sample_snapshot
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
SECONDARY = ("7", "8", "9", "10", "11", "12", "13")


def _connection(school_id: str) -> MisConnection:
    return authorise(
        MisConnection(school_id=school_id, provider="bench", required_scopes={"read"}),
        account_id="bench",
        granted_scopes={"read"},
        at=NOW,
        can_configure=lambda a, p, s: True,
    )


def _add_school(store: SqliteStore, school_id: str) -> None:
    with store.unit_of_work() as uow:
        uow.schools.add(
            School(id=school_id, name=school_id, email_pattern="{forename}.{surname}@x.example")
        )
        uow.commit()


def one_school(pupils: int) -> None:
    """Match + plan + apply one school whose app already holds its pupils."""
    feed = sample_snapshot("s1", pupils=pupils, staff=100, year_codes=SECONDARY, classes_per_year=2)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite")
        _add_school(store, "s1")
        # The app holds every pupil already, typed in by hand (no MIS id, old year group).
        with store.unit_of_work() as uow:
            uow.pupils.put_many(
                attrs.evolve(
                    p, id=f"app-{p.id}", school_id="s1", mis_id=None, year_code=None, class_ids=()
                )
                for p in feed.pupils
            )
            uow.commit()
        t0 = time.perf_counter()
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        t1 = time.perf_counter()
        reviews = [
            match_year_groups(feed.year_groups, list(current.year_groups.values())),
            match_classes(feed.classes, list(current.classes.values())),
            match_staff(feed.staff, list(current.staff.values())).select_all_new(),
            match_pupils(feed.pupils, list(current.pupils.values())),
        ]
        t2 = time.perf_counter()
        sync_plan = plan(reviews, current, at=NOW)
        t3 = time.perf_counter()
        report = apply(sync_plan, store, connection=_connection("s1"), at=NOW)
        t4 = time.perf_counter()
        print(
            f"one school, {pupils} pupils + 100 staff: load {t1 - t0:.3f} s, "
            f"match {t2 - t1:.3f} s, plan {t3 - t2:.3f} s, apply {t4 - t3:.3f} s; "
            f"plan+apply {t4 - t2:.3f} s (target < 2 s); {report.counts()}"
        )
        t5 = time.perf_counter()
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        pairings = [
            Pairing(
                kind=RecordKind.PUPIL, status="matched", mis=p, app=current.pupils[f"app-{p.id}"]
            )
            for p in feed.pupils
        ]
        again = plan_pairings(pairings, current, at=NOW)
        apply(again, store, connection=_connection("s1"), at=NOW)
        print(
            f"re-run of the same sync: load+plan+apply {time.perf_counter() - t5:.3f} s, "
            f"writes planned: {len(again.writes)}"
        )
        store.close()


def _import(store: SqliteStore, feed: MisSnapshot) -> None:
    pairings = [Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=y) for y in feed.year_groups]
    pairings += [Pairing(kind=RecordKind.CLASS, status="new", mis=c) for c in feed.classes]
    pairings += [Pairing(kind=RecordKind.STAFF, status="new", mis=s) for s in feed.staff]
    pairings += [Pairing(kind=RecordKind.PUPIL, status="new", mis=p) for p in feed.pupils]
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, feed.school_id)
    sync_plan = plan_pairings(pairings, current, at=NOW)
    apply(sync_plan, store, connection=_connection(feed.school_id), at=NOW)


def trust_nightly(schools: int, pupils: int) -> None:
    """A nightly incremental sync of every school of a trust, 1 % of pupils changed."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "trust.sqlite")
        feeds = []
        t0 = time.perf_counter()
        for n in range(schools):
            sid = f"school-{n:02d}"
            _add_school(store, sid)
            feed = sample_snapshot(
                sid,
                pupils=pupils,
                staff=80,
                year_codes=SECONDARY,
                classes_per_year=2,
                school_number=n + 1,
                taken_at=NOW,
            )
            _import(store, feed)
            feeds.append(feed)
        setup = time.perf_counter() - t0
        later = [
            evolve_snapshot(
                f, changed=pupils // 100, joiners=3, leavers=2, taken_at=NOW + timedelta(days=1)
            )
            for f in feeds
        ]
        t1, c1 = time.perf_counter(), time.process_time()
        counts: dict[str, int] = {}
        for feed in later:
            report = incremental_sync(
                SnapshotSource(snapshot=feed),
                NOW,
                store,
                school_id=feed.school_id,
                connection=_connection(feed.school_id),
                at=NOW + timedelta(days=1),
            )
            for k, v in report.counts().items():
                counts[k] = counts.get(k, 0) + v
        nightly, cpu = time.perf_counter() - t1, time.process_time() - c1
        print(
            f"trust nightly: {schools} schools x {pupils} pupils = {schools * pupils:,} pupils "
            f"(+{schools * 80:,} staff): {nightly:.2f} s (target < 60 s), "
            f"{nightly / schools:.3f} s per school (CPU {cpu:.2f} s: the wall time on a busy "
            f"machine runs above it); initial import {setup:.1f} s; {counts}"
        )
        store.close()


def main(argv: list[str]) -> None:
    """Print the figures (``--quick`` for a small smoke run)."""
    quick = "--quick" in argv
    one_school(300 if quick else 1500)
    if quick:
        trust_nightly(5, 300)
    else:
        trust_nightly(60, 1500)


if __name__ == "__main__":
    main(sys.argv[1:])
