"""MIS sync against the embedded SQLite store: all-or-nothing apply, undo, nightly sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schoolsync.ports import MisSnapshot
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.sync import (
    MisConnection,
    Pairing,
    RecordKind,
    SchoolRecords,
    SnapshotSource,
    SyncPlan,
    apply,
    authorise,
    incremental_sync,
    plan_pairings,
    unmatch,
)
from schoolsync.sync.sample import evolve_snapshot, sample_snapshot
from schoolsync.trusts import School

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
TABLES = ("pupils", "staff", "classes", "year_groups", "sync_links", "backups", "deleted")
CONN = authorise(
    MisConnection(school_id="s1", provider="p", required_scopes={"read"}),
    account_id="ac",
    granted_scopes={"read"},
    at=NOW,
    can_configure=lambda a, p, s: True,
)


class _Failing:
    """Wraps a store; the Nth write raises (each record of a bulk write counts)."""

    def __init__(self, inner: SqliteStore, fail_at: int | None) -> None:
        self.inner, self.fail_at, self.writes = inner, fail_at, 0

    def unit_of_work(self) -> Any:
        return _UoW(self, self.inner.unit_of_work())

    def close(self) -> None:
        self.inner.close()

    def tick(self) -> None:
        self.writes += 1
        if self.fail_at == self.writes:
            raise OSError(f"injected failure at write {self.writes}")


class _Repo:
    def __init__(self, owner: _Failing, inner: Any) -> None:
        self._owner, self._inner = owner, inner

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name == "put_many":

            def each(records: Any) -> None:
                for r in records:
                    self._owner.tick()
                    self._inner.put(r)

            return each
        if name in {"add", "put", "remove", "append"}:

            def one(*args: Any, **kw: Any) -> Any:
                self._owner.tick()
                return target(*args, **kw)

            return one
        return target


class _UoW:
    def __init__(self, owner: _Failing, inner: Any) -> None:
        self._owner, self._inner = owner, inner

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name in (*TABLES, "audit", "tombstones", "schools"):
            return _Repo(self._owner, target)
        return target

    def __enter__(self) -> _UoW:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)


def state(store: SqliteStore) -> dict[str, Any]:
    with store.unit_of_work() as uow:
        out: dict[str, Any] = {t: getattr(uow, t).list() for t in TABLES}
        out["audit"] = uow.audit.events()
        return out


def new_school(tmp_path: Path, name: str = "db.sqlite") -> SqliteStore:
    store = SqliteStore(tmp_path / name)
    with store.unit_of_work() as uow:
        uow.schools.add(School(id="s1", name="Oak", email_pattern="{forename}.{surname}@o.example"))
        uow.commit()
    return store


def import_plan(store: SqliteStore, feed: MisSnapshot) -> SyncPlan:
    pairings = [Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=y) for y in feed.year_groups]
    pairings += [Pairing(kind=RecordKind.CLASS, status="new", mis=c) for c in feed.classes]
    pairings += [Pairing(kind=RecordKind.STAFF, status="new", mis=s) for s in feed.staff]
    pairings += [Pairing(kind=RecordKind.PUPIL, status="new", mis=p) for p in feed.pupils]
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, "s1")
    return plan_pairings(pairings, current, at=NOW)


def test_failure_at_every_write_leaves_sqlite_unchanged(tmp_path: Path) -> None:
    """Whichever write fails, the database holds nothing of the sync afterwards."""
    feed = sample_snapshot("s1", pupils=6, staff=2, year_codes=("1", "2"))
    store = new_school(tmp_path)
    counting = _Failing(store, None)
    apply(import_plan(store, feed), counting, connection=CONN, at=NOW)
    total = counting.writes
    store.close()
    assert total > 10
    for fail_at in range(1, total + 1):
        store = new_school(tmp_path, f"db{fail_at}.sqlite")
        sync_plan = import_plan(store, feed)
        before = state(store)
        with pytest.raises(OSError, match="injected"):
            apply(sync_plan, _Failing(store, fail_at), connection=CONN, at=NOW)
        assert before == state(store), f"write {fail_at} left changes behind"
        store.close()


def test_import_nightly_and_undo_in_sqlite(tmp_path: Path) -> None:
    """Import, a nightly sync of changes, a repeat that changes nothing, and an unmatch."""
    feed = sample_snapshot("s1", pupils=40, staff=4)
    store = new_school(tmp_path)
    apply(import_plan(store, feed), store, connection=CONN, at=NOW)
    later = evolve_snapshot(feed, changed=2, joiners=1, leavers=1)
    source = SnapshotSource(snapshot=later)
    report = incremental_sync(source, NOW, store, school_id="s1", connection=CONN, at=NOW)
    assert {"created": 1, "out_of_sync": 1, "updated": 2} == {
        k: v for k, v in report.counts().items() if k != "unchanged"
    }
    before = state(store)
    again = incremental_sync(
        source, NOW, store, school_id="s1", connection=CONN, at=NOW + timedelta(days=1)
    )
    assert not again.changed
    assert before == state(store)
    with store.unit_of_work() as uow:
        link = SchoolRecords.load(uow, "s1").link_of_mis(RecordKind.PUPIL, "P00003")
    assert link is not None
    unmatch(store, RecordKind.PUPIL, link.app_id, at=NOW)
    with store.unit_of_work() as uow:
        assert uow.pupils.get(link.app_id) is None  # imported by the sync: soft-deleted
        assert 1 == len(uow.deleted.list())
    store.close()
