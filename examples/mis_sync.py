"""MIS sync end to end in an SQLite file: connect, review, plan, apply, nightly sync, new year.

Run: ``python examples/mis_sync.py`` (writes ``mis_sync_example.sqlite`` in the current folder).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import (
    CONFIGURE_PERMISSION,
    MisConnection,
    Outcome,
    SchoolRecords,
    SnapshotSource,
    apply,
    authorise,
    incremental_sync,
    plan,
    rollover_sync,
)
from schoolsync.sync.sample import evolve_snapshot, rolled_over, sample_snapshot
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import School


def access_co_ordinator_only(account_id: str, permission: str, school_id: str) -> bool:
    """The host's access check (schoolsync.access.AccessIndex.check fits here too)."""
    return account_id == "coordinator" and permission == CONFIGURE_PERMISSION


def main() -> None:
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    path = Path("mis_sync_example.sqlite")
    path.unlink(missing_ok=True)
    store = SqliteStore(path)
    with store.unit_of_work() as uow:
        uow.schools.add(
            School(id="oak", name="Oak Primary", email_pattern="{forename}.{surname}@oak.example")
        )
        uow.commit()

    # 1. The Access Co-ordinator authorises the MIS connection.
    connection = authorise(
        MisConnection(school_id="oak", provider="assembly", required_scopes={"read"}),
        actor_id="coordinator",
        granted_scopes={"read"},
        at=now,
        can_configure=access_co_ordinator_only,
    )

    # 2. Review what the MIS holds against what the app holds.
    mis = sample_snapshot("oak", pupils=140, staff=12, taken_at=now)
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, "oak")
    reviews = [
        match_year_groups(mis.year_groups, list(current.year_groups.values())),
        match_classes(mis.classes, list(current.classes.values())),
        match_staff(mis.staff, list(current.staff.values())).select_all_new(),
        match_pupils(mis.pupils, list(current.pupils.values())),
    ]

    # 3. Plan: read it before anything changes.
    sync_plan = plan(reviews, current, at=now)
    print(sync_plan.table_caption())
    for row in sync_plan.to_rows()[:3]:
        print("  ", row["action"], row["kind"], row["name"], "-", row["reason"])

    # 4. Apply: one unit of work, backups first, welcome messages after the commit.
    notifier = RecordingNotifier()
    report = apply(sync_plan, store, connection=connection, at=now, notifier=notifier)
    print("first sync:", report.counts(), f"- {len(notifier.messages)} welcome messages")
    assert report.counts() == {"created": 7 + 7 + 12 + 140}

    # 5. The nightly sync: changes, joiners and leavers.
    tomorrow = now + timedelta(days=1)
    feed = evolve_snapshot(mis, changed=2, joiners=3, leavers=1, taken_at=tomorrow)
    report = incremental_sync(
        SnapshotSource(snapshot=feed),
        now,
        store,
        school_id="oak",
        connection=connection,
        at=tomorrow,
    )
    print("nightly:", report.counts())
    assert len(report.of(Outcome.CREATED)) == 3

    # 6. A new academic year, after the MIS has rolled over.
    september = datetime(2026, 9, 4, 2, tzinfo=UTC)
    new_year = rolled_over(feed, academic_year=2026, taken_at=september)
    report = rollover_sync(
        SnapshotSource(snapshot=new_year),
        store,
        school_id="oak",
        connection=connection,
        at=september,
    )
    print("new year:", report.counts())
    for note in report.notes:
        print("  ", note)
    assert report.of(Outcome.LEAVER)
    store.close()
    path.unlink()


if __name__ == "__main__":
    main()
