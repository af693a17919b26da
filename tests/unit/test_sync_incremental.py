"""The nightly sync, the new-year rollover, leavers and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from schoolsync.errors import NotFoundError, SyncError, SyncGuardError
from schoolsync.ports import MisSnapshot
from schoolsync.sync import (
    MisConnection,
    Outcome,
    PlanOptions,
    RecordKind,
    RetentionPolicy,
    SchoolRecords,
    SnapshotSource,
    SyncState,
    authorise,
    erase,
    incremental_sync,
    purge_expired,
    restore_deleted,
    rollover_sync,
    soft_delete,
    sync_state,
)
from schoolsync.sync.sample import evolve_snapshot, rolled_over, sample_snapshot
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.testing.sync import import_snapshot
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
KEY = b"host-secret-key-0123456789"
TABLES = (
    "pupils",
    "staff",
    "classes",
    "year_groups",
    "sync_links",
    "backups",
    "deleted",
    "tombstones",
)


def connection() -> MisConnection:
    return authorise(
        MisConnection(school_id="s1", provider="assembly", required_scopes={"read"}),
        actor_id="ac",
        granted_scopes={"read"},
        at=NOW,
        can_configure=lambda a, p, s: True,
    )


def state(store: MemoryStore) -> dict[str, Any]:
    with store.unit_of_work() as uow:
        return {t: getattr(uow, t).list() for t in TABLES}


def synced_school(pupils: int = 70) -> tuple[MemoryStore, MisSnapshot]:
    """A school whose year groups, classes, staff and pupils are all synced with the feed."""
    store = MemoryStore()
    feed = sample_snapshot("s1", pupils=pupils, staff=8, taken_at=NOW)
    oak = School(id="s1", name="Oak", email_pattern="{forename}.{surname}@oak.example")
    import_snapshot(store, feed, connection=connection(), at=NOW, school=oak)
    return store, feed


def nightly(store: MemoryStore, feed: MisSnapshot, **kw: Any) -> Any:
    kw.setdefault("at", NOW + timedelta(days=1))
    return incremental_sync(
        SnapshotSource(snapshot=feed), NOW, store, school_id="s1", connection=connection(), **kw
    )


def app_id_of(store: MemoryStore, kind: RecordKind, mis_id: str) -> str:
    with store.unit_of_work() as uow:
        link = SchoolRecords.load(uow, "s1").link_of_mis(kind, mis_id)
    assert link is not None
    return link.app_id


class TestNightly:
    def test_same_feed_twice_changes_nothing(self) -> None:
        """A nightly sync of an unchanged feed writes nothing."""
        store, feed = synced_school()
        before = state(store)
        report = nightly(store, feed)
        assert not report.changed
        assert before == state(store)

    def test_changes_joiners_and_leavers(self) -> None:
        """Changed fields update, joiners in synced classes import, leavers go Out of sync."""
        store, feed = synced_school()
        later = evolve_snapshot(feed, changed=3, joiners=2, leavers=1)
        report = nightly(store, later)
        assert {"created": 2, "out_of_sync": 1, "updated": 3} == {
            k: v for k, v in report.counts().items() if k != "unchanged"
        }
        (updated, *_) = report.of(Outcome.UPDATED)
        assert ("preferred_forename",) == updated.fields
        assert before_equals_after_twice(store, later)

    def test_new_staff_are_listed_not_imported(self) -> None:
        """New staff wait for a person; nobody is emailed."""
        store, feed = synced_school()
        newcomer = attrs.evolve(feed.staff[0], id="NEW", mis_id="NEW", forename="Nia")
        notifier = RecordingNotifier()
        report = nightly(
            store, attrs.evolve(feed, staff=(*feed.staff, newcomer)), notifier=notifier
        )
        entry = report.for_mis("NEW")
        assert entry is not None
        assert Outcome.NEEDS_REVIEW is entry.outcome
        assert "never imported automatically" in entry.reason
        assert [] == notifier.messages

    def test_pupil_not_in_a_synced_class_is_listed(self) -> None:
        """A new pupil outside synced classes is listed for a person."""
        store, feed = synced_school()
        joiner = attrs.evolve(
            feed.pupils[0], id="J", mis_id="J", upn=None, class_ids=("ELSEWHERE",)
        )
        report = nightly(store, attrs.evolve(feed, pupils=(*feed.pupils, joiner)))
        entry = report.for_mis("J")
        assert entry is not None
        assert Outcome.NEEDS_REVIEW is entry.outcome

    def test_half_empty_feed_is_refused(self) -> None:
        """A feed missing half the pupils is refused and deactivates nobody."""
        store, feed = synced_school()
        before = state(store)
        broken = attrs.evolve(feed, pupils=feed.pupils[: len(feed.pupils) // 2])
        with pytest.raises(SyncGuardError, match="pupil: 35 of 70"):
            nightly(store, broken)
        with pytest.raises(SyncGuardError):
            nightly(store, attrs.evolve(feed, pupils=(), staff=()))
        assert before == state(store)

    def test_out_of_sync_pupil_coming_back_is_resynced(self) -> None:
        """A pupil gone from the feed and back again is Synced again, not duplicated."""
        store, feed = synced_school()
        nightly(store, attrs.evolve(feed, pupils=feed.pupils[1:]))
        pid = app_id_of(store, RecordKind.PUPIL, feed.pupils[0].mis_id or "")
        with store.unit_of_work() as uow:
            assert SyncState.OUT_OF_SYNC is sync_state(uow, RecordKind.PUPIL, pid)
        report = nightly(store, feed)
        assert [pid] == [e.app_id for e in report.of(Outcome.RESYNCED)]

    def test_stale_feed_and_deauthorised_connection_are_refused(self) -> None:
        """A feed older than the last sync, or a stopped connection, is refused."""
        store, feed = synced_school()
        with pytest.raises(SyncError, match="before the last sync"):
            incremental_sync(
                SnapshotSource(snapshot=attrs.evolve(feed, taken_at=NOW - timedelta(days=2))),
                NOW,
                store,
                school_id="s1",
                connection=connection(),
                at=NOW,
            )
        idle = MisConnection(school_id="s1", provider="assembly", required_scopes={"read"})
        with pytest.raises(SyncError, match="syncing is stopped"):
            incremental_sync(
                SnapshotSource(snapshot=feed), None, store, school_id="s1", connection=idle, at=NOW
            )

    def test_a_misspelt_or_missing_run_keyword_is_a_type_error(self) -> None:
        """The run keywords (connection, at, force...) are checked like a signature's: a typo
        does not silently apply a guarded sync, a missing ``at`` is named; nothing is written."""
        store, feed = synced_school()
        before = state(store)
        source = SnapshotSource(snapshot=evolve_snapshot(feed, changed=2))
        with pytest.raises(TypeError, match=r"unexpected keyword argument.*forse"):
            incremental_sync(
                source, NOW, store, school_id="s1", connection=connection(), at=NOW, forse=True
            )
        with pytest.raises(TypeError, match=r"missing required keyword argument.*: at$"):
            incremental_sync(source, NOW, store, school_id="s1", connection=connection())
        assert before == state(store)

    def test_dry_run_reports_without_writing(self) -> None:
        """A dry run plans and reports only."""
        store, feed = synced_school()
        before = state(store)
        report = nightly(store, evolve_snapshot(feed, changed=2), dry_run=True)
        assert not report.committed
        assert 2 == len(report.of(Outcome.UPDATED))
        assert before == state(store)


def before_equals_after_twice(store: MemoryStore, feed: MisSnapshot) -> bool:
    before = state(store)
    nightly(store, feed)
    return before == state(store)


class TestRollover:
    SEPT = datetime(2026, 9, 4, 2, tzinfo=UTC)

    def test_pupils_move_classes_imported_leavers_kept(self) -> None:
        """After the MIS rolls over, pupils move, new classes import, the top year leaves."""
        store, feed = synced_school()
        new_year = rolled_over(feed, academic_year=2026, repeaters=["P00008"], taken_at=self.SEPT)
        report = rollover_sync(
            SnapshotSource(snapshot=new_year),
            store,
            school_id="s1",
            connection=connection(),
            at=self.SEPT,
        )
        assert 10 == len(report.of(Outcome.LEAVER))
        assert 7 == len(report.of(Outcome.CREATED, RecordKind.CLASS))
        assert 7 == len(report.of(Outcome.OUT_OF_SYNC, RecordKind.CLASS))
        repeater = report.for_mis("P00008")
        assert repeater is not None
        assert "repeating a year" in repeater.reason
        moved = new_year.pupils[0]
        pid = app_id_of(store, RecordKind.PUPIL, moved.mis_id or "")
        cid = app_id_of(store, RecordKind.CLASS, moved.class_ids[0])
        with store.unit_of_work() as uow:
            pupil = uow.pupils.require(pid)
            assert (moved.year_code, (cid,)) == (pupil.year_code, pupil.class_ids)
            assert 70 == uow.pupils.count(school_id="s1")  # nothing lost
        before = state(store)
        again = rollover_sync(
            SnapshotSource(snapshot=new_year),
            store,
            school_id="s1",
            connection=connection(),
            at=self.SEPT,
        )
        assert not again.changed
        assert before == state(store)

    def test_before_the_mis_rolls_over_nothing_moves(self) -> None:
        """In the weeks between the year end and the MIS rollover, nothing is moved."""
        store, feed = synced_school()
        before = state(store)
        report = rollover_sync(
            SnapshotSource(snapshot=attrs.evolve(feed, taken_at=self.SEPT)),
            store,
            school_id="s1",
            connection=connection(),
            at=self.SEPT,
        )
        assert not report.changed
        assert "has not rolled over" in report.notes[0]
        assert before == state(store)

    def test_top_year_leaving_in_summer_is_expected(self) -> None:
        """Leavers removed by the MIS in late July are leavers, not a guard failure."""
        store, feed = synced_school()
        july = datetime(2026, 7, 24, tzinfo=UTC)
        summer = attrs.evolve(feed, pupils=tuple(p for p in feed.pupils if p.year_code != "6"))
        report = rollover_sync(
            SnapshotSource(snapshot=summer), store, school_id="s1", connection=connection(), at=july
        )
        assert 10 == len(report.of(Outcome.LEAVER))
        with pytest.raises(SyncGuardError):
            nightly(store, attrs.evolve(summer, pupils=summer.pupils[:30]), at=july)


class TestLeavers:
    def test_soft_delete_restore_and_purge(self) -> None:
        """A deletion is recoverable for the retention period, then purged for good."""
        store, feed = synced_school()
        pid = app_id_of(store, RecordKind.PUPIL, "P00001")
        deleted = soft_delete(store, RecordKind.PUPIL, pid, at=NOW)
        assert NOW + timedelta(days=181) < deleted.purge_after < NOW + timedelta(days=185)
        restore_deleted(store, deleted.id, at=NOW + timedelta(days=30))
        with store.unit_of_work() as uow:
            assert uow.pupils.get(pid) is not None
        deleted = soft_delete(
            store, RecordKind.PUPIL, pid, at=NOW, retention=RetentionPolicy(months=1)
        )
        assert () == purge_expired(store, at=NOW + timedelta(days=10)).purged
        on_hold = purge_expired(
            store, at=NOW + timedelta(days=40), retention=RetentionPolicy(legal_hold=True)
        )
        assert 1 == on_hold.kept_on_hold
        assert (pid,) == purge_expired(store, at=NOW + timedelta(days=40)).purged
        with store.unit_of_work() as uow:
            assert [] == uow.deleted.list()
            assert [] == [b for b in uow.backups.list() if b.record_id == pid]
            (event,) = [e for e in uow.audit.events() if e.action == "record.purged"]
        pupil = feed.pupils[1]
        assert pupil.surname not in repr(event)
        assert str(pupil.upn) not in repr(event)
        with pytest.raises(NotFoundError):
            restore_deleted(store, deleted.id, at=NOW)

    def test_soft_deleted_pupil_reappearing_in_feed_is_restored(self) -> None:
        """The nightly sync restores a soft-deleted pupil whose MIS id reappears."""
        store, feed = synced_school()
        pid = app_id_of(store, RecordKind.PUPIL, "P00001")
        soft_delete(store, RecordKind.PUPIL, pid, at=NOW)
        report = nightly(store, feed)
        entry = report.for_mis("P00001")
        assert entry is not None
        assert (Outcome.RESTORED, pid) == (entry.outcome, entry.app_id)
        with store.unit_of_work() as uow:
            assert 70 == uow.pupils.count(school_id="s1")
            assert [] == uow.deleted.list()

    def test_erasure_leaves_a_tombstone_and_blocks_reimport(self) -> None:
        """An erased pupil leaves only keyed hashes; the next sync does not re-import them."""
        store, feed = synced_school()
        pupil = feed.pupils[1]
        pid = app_id_of(store, RecordKind.PUPIL, "P00001")
        stones = erase(store, RecordKind.PUPIL, pid, key=KEY, at=NOW, school_id="s1")
        assert 2 == len(stones)  # MIS id and UPN
        with store.unit_of_work() as uow:
            assert uow.pupils.get(pid) is None
            assert [] == [b for b in uow.backups.list() if b.record_id == pid]
            (event,) = [e for e in uow.audit.events() if e.action == "record.erased"]
            kept = repr(uow.tombstones.list()) + repr(event)
        for personal in (pupil.surname, pupil.forename, str(pupil.upn), str(pupil.date_of_birth)):
            assert personal not in kept
        with pytest.raises(SyncError, match="tombstone_key"):
            nightly(store, feed)
        report = nightly(store, feed, options=PlanOptions(tombstone_key=KEY))
        entry = report.for_mis("P00001")
        assert entry is not None
        assert Outcome.BLOCKED_ERASED is entry.outcome
        with store.unit_of_work() as uow:
            assert 69 == uow.pupils.count(school_id="s1")


# A failure at every write of the nightly sync, rollover, unmatch, erase, soft delete, restore
# and purge: tests/integration/test_sync_stores.py, in every store.


class TestBackupRotation:
    def test_prune_keeps_what_undo_needs(self) -> None:
        """Old per-sync backups go; a linked record's original backup stays for undo."""
        from schoolsync.sync import Pairing, apply, original_backup_id, plan_pairings, prune_backups

        store, feed = synced_school()
        nightly(store, evolve_snapshot(feed, changed=3))
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        # Link one hand-made app pupil so that it has an "original" backup.
        hand_made = attrs.evolve(feed.pupils[0], id="hand", school_id="s1", mis_id=None)
        with store.unit_of_work() as uow:
            uow.pupils.add(hand_made)
            uow.commit()
        extra = attrs.evolve(feed.pupils[0], id="X", mis_id="X", upn=None)
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        pairing = Pairing(kind=RecordKind.PUPIL, status="matched", mis=extra, app=hand_made)
        apply(plan_pairings([pairing], current, at=NOW), store, connection=connection(), at=NOW)
        with store.unit_of_work() as uow:
            assert len(uow.backups.list()) == 3 + 2  # 3 updates, 1 link (original + this sync)
        removed = prune_backups(store, before=NOW + timedelta(days=30))
        assert 4 == removed
        with store.unit_of_work() as uow:
            (kept,) = uow.backups.list()
        assert original_backup_id(RecordKind.PUPIL, "hand") == kept.id


@attrs.frozen(kw_only=True)
class _DeltaSource(SnapshotSource):
    """A delta feed: only changed records, plus deletions."""

    deleted: tuple[Any, ...] = ()

    @property
    def is_delta(self) -> bool:
        return True

    def deletions(self) -> list[Any]:
        return list(self.deleted)


@attrs.frozen
class _Deletion:
    kind: str
    id: str


class TestDeltaFeeds:
    def test_absent_records_are_unchanged_and_deletions_apply(self) -> None:
        """In a delta, only changed records are sent: absent ones stay Synced, deleted ones go
        Out of sync, and a changed pupil keeps the classes it already had."""
        store, feed = synced_school()
        changed = attrs.evolve(feed.pupils[3], preferred_forename="Bee", class_ids=())
        delta = attrs.evolve(feed, pupils=(changed,), staff=(), classes=(), year_groups=())
        source = _DeltaSource(snapshot=delta, deleted=(_Deletion("user", "P00005"),))
        report = incremental_sync(
            source, NOW, store, school_id="s1", connection=connection(), at=NOW
        )
        assert {"out_of_sync": 1, "updated": 1} == report.counts()
        pid = app_id_of(store, RecordKind.PUPIL, "P00003")
        with store.unit_of_work() as uow:
            pupil = uow.pupils.require(pid)
            assert "Bee" == pupil.preferred_forename
            assert 1 == len(pupil.class_ids)  # kept from the last full export
            gone = app_id_of(store, RecordKind.PUPIL, "P00005")
            assert SyncState.OUT_OF_SYNC is sync_state(uow, RecordKind.PUPIL, gone)
