"""MIS sync against PostgreSQL: all-or-nothing apply, and repeat runs change nothing.

Needs SCHOOLSYNC_TEST_POSTGRES_DSN (see tests/contract/test_store_contract_postgres.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from schoolsync.sync import (
    MisConnection,
    Pairing,
    RecordKind,
    SchoolRecords,
    SnapshotSource,
    apply,
    authorise,
    incremental_sync,
    plan_pairings,
)
from schoolsync.sync.sample import evolve_snapshot, sample_snapshot
from schoolsync.testing.contracts import postgres_admin_dsn, throwaway_postgres_database
from schoolsync.trusts import School

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)
TABLES = ("pupils", "staff", "classes", "year_groups", "sync_links", "backups", "deleted")
CONN = authorise(
    MisConnection(school_id="s1", provider="p", required_scopes={"read"}),
    account_id="ac",
    granted_scopes={"read"},
    at=NOW,
    can_configure=lambda a, p, s: True,
)


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    with throwaway_postgres_database(postgres_admin_dsn()) as dsn:
        yield dsn


def new_store(dsn: str) -> Any:
    from schoolsync.storage.postgres import PostgresStore

    store = PostgresStore(dsn, schema=f"t_{secrets.token_hex(4)}", lock_timeout=5)
    with store.unit_of_work() as uow:
        uow.schools.add(School(id="s1", name="Oak", email_pattern="{forename}.{surname}@o.example"))
        uow.commit()
    return store


class _Failing:
    def __init__(self, inner: Any, fail_at: int | None) -> None:
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
        if name in (*TABLES, "audit", "schools"):
            return _Repo(self._owner, target)
        return target

    def __enter__(self) -> _UoW:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)


def state(store: Any) -> dict[str, Any]:
    with store.unit_of_work() as uow:
        out: dict[str, Any] = {t: getattr(uow, t).list() for t in TABLES}
        out["audit"] = uow.audit.events()
        return out


def import_all(store: Any, pupils: int = 6) -> Any:
    feed = sample_snapshot("s1", pupils=pupils, staff=2, year_codes=("1", "2"), taken_at=NOW)
    pairings = [Pairing(kind=RecordKind.YEAR_GROUP, status="new", mis=y) for y in feed.year_groups]
    pairings += [Pairing(kind=RecordKind.CLASS, status="new", mis=c) for c in feed.classes]
    pairings += [Pairing(kind=RecordKind.STAFF, status="new", mis=s) for s in feed.staff]
    pairings += [Pairing(kind=RecordKind.PUPIL, status="new", mis=p) for p in feed.pupils]
    with store.unit_of_work() as uow:
        current = SchoolRecords.load(uow, "s1")
    return feed, plan_pairings(pairings, current, at=NOW)


def test_failure_at_every_write_leaves_postgres_unchanged(postgres_dsn: str) -> None:
    """Whichever write fails, the database holds nothing of the sync afterwards."""
    store = new_store(postgres_dsn)
    _, sync_plan = import_all(store)
    counting = _Failing(store, None)
    apply(sync_plan, counting, connection=CONN, at=NOW)
    total = counting.writes
    store.close()
    assert total > 10
    for fail_at in range(1, total + 1, 3):
        store = new_store(postgres_dsn)
        _, sync_plan = import_all(store)
        before = state(store)
        with pytest.raises(OSError, match="injected"):
            apply(sync_plan, _Failing(store, fail_at), connection=CONN, at=NOW)
        assert before == state(store), f"write {fail_at} left changes behind"
        store.close()


def test_nightly_sync_twice_changes_nothing(postgres_dsn: str) -> None:
    """A nightly sync applies changes once; the same feed again writes nothing."""
    store = new_store(postgres_dsn)
    feed, sync_plan = import_all(store, pupils=20)
    apply(sync_plan, store, connection=CONN, at=NOW)
    later = SnapshotSource(snapshot=evolve_snapshot(feed, changed=2, joiners=1))
    report = incremental_sync(later, NOW, store, school_id="s1", connection=CONN, at=NOW)
    assert {"created": 1, "updated": 2} == {
        k: v for k, v in report.counts().items() if k != "unchanged"
    }
    before = state(store)
    again = incremental_sync(later, NOW, store, school_id="s1", connection=CONN, at=NOW)
    assert not again.changed
    assert before == state(store)
    store.close()
