"""What must hold of every sync, in every store (in memory, SQLite, PostgreSQL).

* A failure injected at EVERY write (each record of a bulk write counts, and the commit too)
  of apply, the nightly sync, rollover, unmatch, erase, purge, soft delete and restore leaves
  the whole store exactly as it was (every repository and the audit log).
* Running the same sync twice changes nothing the second time.

The PostgreSQL cases need SCHOOLSYNC_TEST_POSTGRES_DSN (see
tests/contract/test_store_contract_postgres.py).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from schoolsync.identifiers import Upn
from schoolsync.people import Pupil
from schoolsync.ports import MisSnapshot, Store
from schoolsync.serialisation import converter
from schoolsync.sync import (
    MisConnection,
    Outcome,
    Pairing,
    PlanOptions,
    RecordKind,
    SchoolRecords,
    SnapshotSource,
    SyncPlan,
    apply,
    authorise,
    erase,
    incremental_sync,
    plan_pairings,
    purge_expired,
    restore_deleted,
    rollover_sync,
    soft_delete,
    unmatch,
)
from schoolsync.sync.identity import identity_hashes
from schoolsync.sync.sample import evolve_snapshot, rolled_over, sample_snapshot
from schoolsync.testing.faults import (
    NotAllOrNothingError,
    fails_cleanly_at_every_write,
    whole_store,
)
from schoolsync.testing.memory import MemoryStore
from schoolsync.testing.notifier import RecordingNotifier
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 4, 2, tzinfo=UTC)
KEY = b"host-secret-key-0123456789"
CONN = authorise(
    MisConnection(school_id="s1", provider="p", required_scopes={"read"}),
    actor_id="ac",
    granted_scopes={"read"},
    at=NOW,
    can_configure=lambda a, p, s: True,
)

NewStore = Callable[[], Store]


# -- stores -----------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewStore]:
    """Makes empty stores of one kind holding school ``s1``; closes them afterwards."""
    made: list[Store] = []

    def make() -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore()
        elif request.param == "sqlite":
            from schoolsync.storage.sqlite import SqliteStore

            store = SqliteStore(tmp_path / f"db{len(made)}.sqlite")
        else:
            from schoolsync.storage.postgres import PostgresStore

            dsn = request.getfixturevalue("postgres_dsn")
            store = PostgresStore(dsn, schema=f"t_{secrets.token_hex(4)}", lock_timeout=5)
        made.append(store)
        with store.unit_of_work() as uow:
            uow.schools.add(
                School(id="s1", name="Oak", email_pattern="{forename}.{surname}@o.example")
            )
            uow.commit()
        return store

    yield make
    for store in made:
        store.close()


def count_writes(store: Store, run: Callable[[Store], object]) -> int:
    """:func:`fails_cleanly_at_every_write`, returning how many writes the run makes."""
    return fails_cleanly_at_every_write(store, run).failures_injected


# -- schools to sync ------------------------------------------------------------------------


def import_plan(store: Store, feed: MisSnapshot) -> SyncPlan:
    """The plan of a first sync importing everything in *feed*."""
    pairings = [Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=y) for y in feed.year_groups]
    pairings += [Pairing(kind=RecordKind.CLASS, status="new", mis=c) for c in feed.classes]
    pairings += [Pairing(kind=RecordKind.STAFF, status="new", mis=s) for s in feed.staff]
    pairings += [Pairing(kind=RecordKind.PUPIL, status="new", mis=p) for p in feed.pupils]
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, "s1")
    return plan_pairings(pairings, current, at=NOW)


def small_feed(pupils: int = 14) -> MisSnapshot:
    return sample_snapshot("s1", pupils=pupils, staff=3, year_codes=("5", "6"), taken_at=NOW)


def synced_school(new_store: NewStore, pupils: int = 14) -> tuple[Store, MisSnapshot]:
    """A school whose year groups, classes, staff and pupils are all synced with the feed."""
    store, feed = new_store(), small_feed(pupils)
    apply(import_plan(store, feed), store, connection=CONN, at=NOW)
    return store, feed


def app_id_of(store: Store, kind: RecordKind, mis_id: str) -> str:
    with store.unit_of_work() as uow:
        link = SchoolRecords.load(uow, "s1").link_of_mis(kind, mis_id)
    assert link is not None
    return link.app_id


def nightly(target: Store, feed: MisSnapshot, **kw: Any) -> Any:
    return incremental_sync(
        SnapshotSource(snapshot=feed), NOW, target, school_id="s1", connection=CONN, at=NOW, **kw
    )


def new_year(target: Store, feed: MisSnapshot) -> Any:
    later = rolled_over(feed, academic_year=2026, taken_at=SEPTEMBER)
    return rollover_sync(
        SnapshotSource(snapshot=later), target, school_id="s1", connection=CONN, at=SEPTEMBER
    )


# -- a failure at every write changes nothing --------------------------------------------------


class TestAFailureAtEveryWriteChangesNothing:
    def test_apply(self, new_store: NewStore) -> None:
        """A first sync (year groups, classes, staff, pupils) failing at any write leaves the
        store as it was, and nobody is emailed."""
        store, feed = new_store(), small_feed(6)
        sync_plan = import_plan(store, feed)
        notifier = RecordingNotifier()

        def run(target: Store) -> None:
            apply(sync_plan, target, connection=CONN, at=NOW, notifier=notifier)
            assert notifier.messages  # a failed run never gets here

        assert count_writes(store, run) > 20
        assert len(notifier.messages) == 3  # the successful run only

    def test_apply_of_links_writes_backups_before_any_record(self, new_store: NewStore) -> None:
        """Linking app records overwrites them with the MIS's values, so each is backed up
        first, before any record is written; failing anywhere changes nothing."""
        store, feed = new_store(), small_feed(6)
        with store.unit_of_work() as uow:
            uow.pupils.put_many(
                attrs.evolve(p, id=f"app-{p.id}", school_id="s1", forename=p.forename.upper())
                for p in feed.pupils
            )
            uow.commit()
        with store.unit_of_work() as uow:
            current = SchoolRecords.load(uow, "s1")
        pairings = [
            Pairing(
                kind=RecordKind.PUPIL, status="matched", mis=p, app=current.pupils[f"app-{p.id}"]
            )
            for p in feed.pupils
        ]
        sync_plan = plan_pairings(pairings, current, at=NOW)
        writes = fails_cleanly_at_every_write(
            store, lambda t: apply(sync_plan, t, connection=CONN, at=NOW)
        ).writes
        first_record = next(i for i, w in enumerate(writes) if not w.startswith("backups"))
        assert first_record >= 6
        assert not any(w.startswith("backups") for w in writes[first_record:])

    def test_nightly_sync(self, new_store: NewStore) -> None:
        """A nightly sync (changes, joiners, a leaver) failing at any write changes nothing."""
        store, feed = synced_school(new_store)
        later = evolve_snapshot(feed, changed=2, joiners=2, leavers=1)
        options = PlanOptions(guard_share=0.5)
        assert count_writes(store, lambda t: nightly(t, later, options=options)) > 5

    def test_rollover(self, new_store: NewStore) -> None:
        """A new-year sync failing at any write changes nothing."""
        store, feed = synced_school(new_store)
        assert count_writes(store, lambda t: new_year(t, feed)) > 10

    def test_unmatch(self, new_store: NewStore) -> None:
        """Unmatch (soft-deleting an imported record) failing at any write changes nothing."""
        store, _ = synced_school(new_store)
        pid = app_id_of(store, RecordKind.PUPIL, "P00001")
        assert count_writes(store, lambda t: unmatch(t, RecordKind.PUPIL, pid, at=NOW)) >= 4

    def test_erase(self, new_store: NewStore) -> None:
        """Erasure failing at any write changes nothing."""
        store, _ = synced_school(new_store)
        pid = app_id_of(store, RecordKind.PUPIL, "P00002")

        def run(target: Store) -> None:
            erase(target, RecordKind.PUPIL, pid, key=KEY, at=NOW, school_id="s1")

        assert count_writes(store, run) >= 5

    def test_soft_delete_restore_and_purge(self, new_store: NewStore) -> None:
        """Soft delete, restore and purge failing at any write change nothing."""
        store, _ = synced_school(new_store)
        pid = app_id_of(store, RecordKind.PUPIL, "P00003")
        assert count_writes(store, lambda t: soft_delete(t, RecordKind.PUPIL, pid, at=NOW)) >= 4
        with store.unit_of_work() as uow:
            (deleted,) = uow.deleted.list()
        assert count_writes(store, lambda t: restore_deleted(t, deleted.id, at=NOW)) >= 4
        soft_delete(store, RecordKind.PUPIL, pid, at=NOW - timedelta(days=400))
        assert count_writes(store, lambda t: purge_expired(t, at=NOW).purged) >= 3


# -- the same sync twice -----------------------------------------------------------------------


class TestTheSameSyncTwiceChangesNothing:
    def test_first_sync(self, new_store: NewStore) -> None:
        """After a first sync, planning it again plans no writes, and applying that plan
        changes nothing."""
        store, feed = synced_school(new_store)
        before = whole_store(store)
        again = import_plan(store, feed)
        assert again.is_empty
        assert not apply(again, store, connection=CONN, at=NOW).changed
        assert before == whole_store(store)

    def test_nightly_sync(self, new_store: NewStore) -> None:
        """The same nightly feed twice: the second run changes nothing."""
        store, feed = synced_school(new_store)
        later = evolve_snapshot(feed, changed=2, joiners=1, leavers=1)
        report = nightly(store, later)
        assert {"created": 1, "out_of_sync": 1, "updated": 2} == {
            k: v for k, v in report.counts().items() if k != "unchanged"
        }
        before = whole_store(store)
        assert not nightly(store, later).changed
        assert before == whole_store(store)

    def test_rollover(self, new_store: NewStore) -> None:
        """Rollover twice is the same as once."""
        store, feed = synced_school(new_store)
        assert new_year(store, feed).of(Outcome.LEAVER)
        before = whole_store(store)
        assert not new_year(store, feed).changed
        assert before == whole_store(store)


def test_import_nightly_and_undo(new_store: NewStore) -> None:
    """Import, a nightly sync, and an unmatch of a record the sync imported (soft-deleted)."""
    store, feed = synced_school(new_store, pupils=20)
    nightly(store, evolve_snapshot(feed, changed=2, joiners=1))
    pid = app_id_of(store, RecordKind.PUPIL, "P00003")
    report = unmatch(store, RecordKind.PUPIL, pid, at=NOW)
    assert report.entries[0].outcome is Outcome.UNLINKED
    with store.unit_of_work() as uow:
        assert uow.pupils.get(pid) is None
        (deleted,) = uow.deleted.list()
    assert deleted.record_id == pid


def test_the_check_catches_a_half_applied_run(new_store: NewStore) -> None:
    """The failure-injection check itself fails for a run that writes in two transactions."""
    store = new_store()

    def two_units(target: Store) -> None:
        for name in ("Ann", "Bob"):
            with target.unit_of_work() as uow:
                uow.schools.add(School(id=name, name=name))
                uow.commit()

    with pytest.raises(
        NotAllOrNothingError, match=r"write 3 \(schools\.add\) failed and left changes behind"
    ) as caught:
        fails_cleanly_at_every_write(store, two_units)
    assert ["schools: added 'Ann'"] == list(caught.value.changes)


# -- purges and erasures hold no personal data -------------------------------------------------

DOB = date(2015, 7, 23)


def distinctive(feed: MisSnapshot) -> MisSnapshot:
    """The feed with two pupils whose personal data is easy to find in any text."""
    first, second, *rest = feed.pupils
    people = [
        attrs.evolve(
            pupil,
            forename=f"Zanzibarina{n}",
            middle_names=f"Quillonfeather{n}",
            surname=f"Marrowbrook{n}",
            preferred_forename=f"Zazzy{n}",
            date_of_birth=DOB,
            email=f"zanzibarina{n}@home.example",
            former_upns=(Upn.parse("A201200119001"),) if n == 1 else (),
        )
        for n, pupil in ((1, first), (2, second))
    ]
    return attrs.evolve(feed, pupils=(*people, *rest))


def personal_values(pupil: Pupil) -> list[str]:
    dob = pupil.date_of_birth
    assert dob is not None
    assert pupil.upn is not None
    values = [
        pupil.forename,
        pupil.surname,
        pupil.middle_names or "",
        pupil.preferred_forename or "",
        pupil.email or "",
        dob.isoformat(),
        dob.strftime("%d/%m/%Y"),
        dob.strftime("%Y%m%d"),
        str(pupil.upn),
        *(str(u) for u in pupil.former_upns),
    ]
    assert all(values)
    return [v.lower() for v in values]


def as_text(records: Any) -> str:
    return json.dumps(converter.unstructure(records), default=str).lower()


def test_purges_and_erasures_hold_no_personal_data(new_store: NewStore) -> None:
    """Purge and erasure audit events, and the tombstones an erasure leaves, hold none of the
    person's names, date of birth, email or UPNs; a tombstone is a keyed hash of one
    identifier; nothing of an erased person is left anywhere in the store."""
    store, feed = new_store(), distinctive(small_feed())
    apply(import_plan(store, feed), store, connection=CONN, at=NOW)
    erased_mis, purged_mis = feed.pupils[:2]
    erased_id = app_id_of(store, RecordKind.PUPIL, erased_mis.id)
    purged_id = app_id_of(store, RecordKind.PUPIL, purged_mis.id)
    with store.unit_of_work() as uow:
        erased_record = uow.pupils.require(erased_id)
    soft_delete(store, RecordKind.PUPIL, purged_id, at=NOW - timedelta(days=400))
    assert purge_expired(store, at=NOW).purged == (purged_id,)
    tombstones = erase(store, RecordKind.PUPIL, erased_id, key=KEY, at=NOW, school_id="s1")

    everything = whole_store(store)
    events = {e.action: e for e in everything.audit}
    assert {"record.purged", "record.erased"} <= set(events)
    for action in ("record.purged", "record.erased", "record.soft_deleted"):
        text = as_text(events[action])
        for value in personal_values(erased_mis) + personal_values(purged_mis):
            assert value not in text, f"{action} holds {value!r}"
    # Tombstones: one per identifier (MIS id, UPN, former UPN), each only a keyed hash.
    assert len(tombstones) == 3
    expected = identity_hashes(RecordKind.PUPIL, erased_record, KEY)
    assert sorted(t.key_hash for t in tombstones) == sorted(expected)
    assert not set(expected) & set(identity_hashes(RecordKind.PUPIL, erased_record, KEY[::-1]))
    for tombstone in tombstones:
        assert tombstone.id == f"s1:{tombstone.key_hash[:32]}"
        text = as_text(tombstone)
        for value in [*personal_values(erased_mis), erased_mis.id.lower()]:
            assert value not in text
    # Nothing of either person is left in the store (the audit log included).
    text = as_text([everything.records, everything.audit])
    for value in personal_values(erased_mis) + personal_values(purged_mis):
        assert value not in text, f"the store still holds {value!r}"
