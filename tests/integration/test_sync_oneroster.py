"""MIS sync from a real OneRoster bundle (shared fixtures) into SQLite, through the
MisSource protocol."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schoolsync.matching import match_classes, match_pupils, match_staff, match_year_groups
from schoolsync.sources.oneroster import OneRosterSource
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import (
    MisConnection,
    Outcome,
    RecordKind,
    SchoolRecords,
    apply,
    authorise,
    incremental_sync,
    plan,
    read_snapshot,
)
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import School

FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures"
BUNDLE = FIXTURES / "oneroster-csv-catalyst-moodle" / "Test_full_data_set"
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    not BUNDLE.is_dir(), reason="the shared fixtures folder (../shared/fixtures) is absent"
)


def test_first_sync_then_nightly_from_a_real_bundle(tmp_path: Path) -> None:
    """Everything in the bundle is imported once; the nightly sync of the same bundle, read
    through the MisSource protocol, changes nothing."""
    store = SqliteStore(tmp_path / "oneroster.sqlite")
    source = OneRosterSource(BUNDLE, school_id="s1", taken_at=NOW)
    mis = read_snapshot(source, "s1")
    with store.unit_of_work() as uow:
        uow.schools.add(
            School(
                id="s1",
                name="Moodle test school",
                email_pattern="{forename}.{surname}@school.example",
            )
        )
        uow.commit()
        current = SchoolRecords.load(uow, "s1")
    connection = authorise(
        MisConnection(school_id="s1", provider="oneroster", required_scopes={"roster"}),
        actor_id="coordinator",
        granted_scopes={"roster"},
        at=NOW,
        can_configure=lambda a, p, s: True,
    )
    reviews = [
        match_year_groups(mis.year_groups, []),
        match_classes(mis.classes, []),
        match_staff(mis.staff, []).select_all_new(),
        match_pupils(mis.pupils, []),
    ]
    sync_plan = plan(reviews, current, at=NOW)
    notifier = RecordingNotifier()
    report = apply(sync_plan, store, connection=connection, at=NOW, notifier=notifier)
    imported = [e for e in report.entries if e.outcome is Outcome.CREATED]
    assert len(mis.pupils) == len([e for e in imported if e.kind is RecordKind.PUPIL])
    assert len(mis.staff) == len(notifier.of_kind("welcome"))
    with store.unit_of_work() as uow:
        assert len(mis.pupils) == uow.pupils.count(school_id="s1")
        pupils = uow.pupils.list(school_id="s1")
        class_ids = {c.id for c in uow.classes.list(school_id="s1")}
    assert all(set(p.class_ids) <= class_ids for p in pupils)
    nightly = incremental_sync(
        OneRosterSource(BUNDLE, school_id="s1", taken_at=NOW + timedelta(days=1)),
        NOW,
        store,
        school_id="s1",
        connection=connection,
        at=NOW + timedelta(days=1),
    )
    assert not nightly.changed
    assert {"unchanged"} == set(nightly.counts())
    store.close()
