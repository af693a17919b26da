"""Plug schoolsync into a host app's own storage with a custom adapter.

A host app already has a database; schoolsync only needs the small storage ports of
``schoolsync.ports`` (``Store`` -> ``UnitOfWork`` -> one ``Repository`` per record kind, plus an
append-only ``AuditLog``). This script implements them over a JSON document file (standing in
for the host's own document store), proves the adapter right with schoolsync's storage
contract (``schoolsync.testing.contracts.StoreContract``, the same suite the shipped stores
pass), and then runs a bulk user import and an access check through it.

Run it from any directory: it writes ``host-app.json`` and ``staff.csv`` there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

try:
    import pytest
except ModuleNotFoundError:  # what a new user sees without the test tools
    raise SystemExit(
        "This example proves the adapter with schoolsync's storage contract under pytest: install the test tools first, "
        "pip install -e '.[dev]' in the schoolsync clone"
    ) from None

from schoolsync.access import AccessIndex, Account, AccountStatus, RoleAssignment
from schoolsync.access.grants import Grant
from schoolsync.access.presets import progress_teaching
from schoolsync.audit import AuditEvent
from schoolsync.bulk import CatalogueChecks, apply_change_set, import_users, write_sheet
from schoolsync.errors import ConcurrentWriteError, DuplicateRecordError, NotFoundError
from schoolsync.people import Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import AuditLog, Repository, Store, UnitOfWork
from schoolsync.records.tables import TABLES as REGISTRY
from schoolsync.records.tables import Table
from schoolsync.serialisation import converter
from schoolsync.sync.records import Backup, DeletedRecord, SyncLink, Tombstone
from schoolsync.testing.contracts import StoreContract
from schoolsync.trusts import Membership, MembershipStatus, School, Trust

R = TypeVar("R")

#: Every table the ports name, with its record type (from schoolsync's table registry, so a
#: table added to schoolsync later is stored here too).
TABLES: dict[str, type[Any]] = {table.name: table.record_type for table in REGISTRY}
_GONE = object()


class JsonRepository(Generic[R]):
    """One table: committed JSON documents overlaid with this unit of work's changes."""

    def __init__(self, kind: str, record_type: type[R], committed: dict[str, Any]) -> None:
        self._kind = kind
        self._type = record_type
        self._committed = committed
        self.changes: dict[str, Any] = {}

    def _doc(self, id: str) -> Any:
        return self.changes[id] if id in self.changes else self._committed.get(id)

    def get(self, id: str) -> R | None:
        doc = self._doc(id)
        return None if doc is None or doc is _GONE else converter.structure(doc, self._type)

    def require(self, id: str) -> R:
        record = self.get(id)
        if record is None:
            raise NotFoundError(self._kind, id)
        return record

    def add(self, record: R) -> None:
        key: str = record.id  # type: ignore[attr-defined]
        if self.get(key) is not None:
            raise DuplicateRecordError(self._kind, key)
        self.put(record)

    def put(self, record: R) -> None:
        self.changes[record.id] = converter.unstructure(record)  # type: ignore[attr-defined]

    def put_many(self, records: Iterable[R]) -> None:
        for record in records:
            self.put(record)

    def remove(self, id: str) -> None:
        if self.get(id) is None:
            raise NotFoundError(self._kind, id)
        self.changes[id] = _GONE

    def list(self, *, school_id: str | None = None) -> list[R]:
        docs = {**self._committed, **self.changes}
        rows = [
            converter.structure(doc, self._type)
            for _, doc in sorted(docs.items())
            if doc is not _GONE and (school_id is None or doc.get("school_id") == school_id)
        ]
        return rows

    def count(self, *, school_id: str | None = None) -> int:
        return len(self.list(school_id=school_id))


class JsonAuditLog:
    """Committed events plus this unit of work's new ones; never changed or removed."""

    def __init__(self, committed: list[Any]) -> None:
        self._committed = committed
        self.new: list[Any] = []

    def append(self, event: AuditEvent) -> None:
        self.new.append(converter.unstructure(event))

    def events(
        self,
        *,
        account_id: str | None = None,
        school_id: str | None = None,
        trust_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        found = [converter.structure(doc, AuditEvent) for doc in [*self._committed, *self.new]]
        found = [
            e
            for e in found
            if (account_id is None or e.account_id == account_id)
            and (school_id is None or e.school_id == school_id)
            and (trust_id is None or e.trust_id == trust_id)
            and (since is None or e.at >= since)
            and (until is None or e.at < until)
        ]
        order = {id(e): i for i, e in enumerate(found)}
        return sorted(found, key=lambda e: (e.at, order[id(e)]))


class JsonUnitOfWork:
    """All-or-nothing: changes stay here until commit writes them (and the file) at once."""

    trusts: Repository[Trust]
    schools: Repository[School]
    memberships: Repository[Membership]
    grants: Repository[Grant]
    accounts: Repository[Account]
    assignments: Repository[RoleAssignment]
    pupils: Repository[Pupil]
    staff: Repository[StaffMember]
    classes: Repository[SchoolClass]
    year_groups: Repository[YearGroup]
    sync_links: Repository[SyncLink]
    backups: Repository[Backup]
    deleted: Repository[DeletedRecord]
    tombstones: Repository[Tombstone]
    audit: AuditLog

    def __init__(self, store: JsonStore) -> None:
        self._store = store
        self._locks: list[str] = []
        self._begin()

    def _begin(self) -> None:
        for name, record_type in TABLES.items():
            setattr(self, name, JsonRepository(name, record_type, self._store.tables[name]))
        self._audit_log = JsonAuditLog(self._store.events)
        self.audit = self._audit_log

    def repository(self, table: Table[R]) -> Repository[R]:
        repo: Repository[R] = getattr(self, table.name)
        return repo

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def _release(self) -> None:
        """School and trust locks last until the transaction ends (commit or rollback)."""
        with self._store.mutex:
            for key in self._locks:
                self._store.locks.discard(key)
        self._locks.clear()

    def commit(self) -> None:
        with self._store.mutex:
            for name in TABLES:
                table = self._store.tables[name]
                for key, doc in getattr(self, name).changes.items():
                    if doc is _GONE:
                        table.pop(key, None)
                    else:
                        table[key] = doc
            self._store.events.extend(self._audit_log.new)
            self._store.save()
        self._release()
        self._begin()

    def rollback(self) -> None:
        self._release()
        self._begin()

    def lock_school(self, school_id: str) -> None:
        self._lock(f"school {school_id!r}")

    def lock_trust(self, trust_id: str) -> None:
        self._lock(f"trust {trust_id!r}")

    def _lock(self, key: str) -> None:
        if key in self._locks:
            return
        with self._store.mutex:
            if key in self._store.locks:
                raise ConcurrentWriteError(f"{key} is being changed; try again")
            self._store.locks.add(key)
        self._locks.append(key)


class JsonStore:
    """The host's document file as a schoolsync ``Store`` (atomic file replace on commit)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.mutex = threading.RLock()
        self.locks: set[str] = set()  # "school '<id>'" / "trust '<id>'" held by a writer
        data: dict[str, Any] = {}
        if self.path.exists():
            data = json.loads(self.path.read_text(encoding="utf-8"))
        self.tables: dict[str, dict[str, Any]] = {n: data.get(n, {}) for n in TABLES}
        self.events: list[Any] = data.get("audit", [])

    def save(self) -> None:
        payload = json.dumps({**self.tables, "audit": self.events})
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(tmp, self.path)

    def unit_of_work(self) -> UnitOfWork:
        return JsonUnitOfWork(self)

    def close(self) -> None:
        """Nothing to release."""


class TestJsonStore(StoreContract):
    """schoolsync's storage contract, run against the adapter."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterable[Store]:
        store = JsonStore(tmp_path / "contract.json")
        yield store
        store.close()


def use_it() -> None:
    """The host's store at work: a bulk user import, checked and audited, then a decision."""
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    Path("host-app.json").unlink(missing_ok=True)
    store = JsonStore("host-app.json")
    with store.unit_of_work() as uow:
        uow.trusts.add(Trust(id="t1", name="Northern Lights Trust"))
        uow.schools.add(School(id="oak", name="Oakfield Primary"))
        uow.memberships.add(
            Membership(id="m1", trust_id="t1", school_id="oak", status=MembershipStatus.ACCEPTED)
        )
        uow.accounts.add(
            Account(
                id="ada",
                trust_id="t1",
                email="ada@oak.example",
                name="Ada Lovelace",
                status=AccountStatus.ACTIVE,
            )
        )
        for assignment_id, role in (("r1", "Admin"), ("r2", "Staff")):
            # Ada may give Staff only because she holds its permissions herself.
            uow.assignments.add(
                RoleAssignment(
                    id=assignment_id, account_id="ada", trust_id="t1", role=role, school_id="oak"
                )
            )
        uow.commit()

    checks = CatalogueChecks(progress_teaching())
    staff_file = write_sheet(
        "staff.csv",
        ["Email", "Name", "Oakfield Primary"],
        [["ben@oak.example", "Ben Okri", "Staff"], ["cy@oak.example", "Cy Twombly", "Staff"]],
    )
    change_set = import_users(store, "t1", staff_file, checks=checks, at=now, actor_id="ada")
    print("preview:", change_set.describe())
    assert change_set.ok
    result = apply_change_set(store, change_set, checks=checks, at=now)

    reopened = JsonStore("host-app.json")  # durable: read back from the file
    with reopened.unit_of_work() as uow:
        assert uow.accounts.count() == 3
        index = AccessIndex.from_unit_of_work(progress_teaching(), uow, now=now)
        print("audit events:", len(uow.audit.events()))
    for account_id in result.created_account_ids:
        decision = index.check(account_id, "dashboards.view", "oak")
        print(decision.explain())  # pending accounts: denied until activated
        assert not decision


if __name__ == "__main__":
    # The contract runs as an ordinary pytest module (this file), in a fresh interpreter.
    contract = subprocess.run(  # noqa: S603 - runs this very file under pytest
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"], check=False
    )
    if contract.returncode != 0:
        sys.exit(contract.returncode)
    use_it()
