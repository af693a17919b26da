"""The storage contract: tests every :class:`~schoolsync.ports.Store` must pass.

schoolsync runs this suite unchanged against :class:`~schoolsync.testing.memory.MemoryStore`,
:class:`~schoolsync.storage.sqlite.SqliteStore` and
:class:`~schoolsync.storage.postgres.PostgresStore`. A host app that implements the ports for
its own database runs it too: subclass :class:`StoreContract` in a test module and override the
``store`` fixture so that it yields a new, empty store::

    import pytest
    from schoolsync.testing.contracts import StoreContract

    class TestMyStore(StoreContract):
        serialises_all_writers = False  # True if lock_school/lock_trust lock everything at once

        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(tmp_path / "db")
            yield store
            store.close()

The suite needs ``pytest`` and ``hypothesis`` (the ``dev`` extra). It also ships two helpers for
PostgreSQL test runs: :func:`postgres_admin_dsn` and :func:`throwaway_postgres_database`.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schoolsync.access.accounts import Account, AccountStatus, RoleAssignment
from schoolsync.access.grants import Grant
from schoolsync.audit import AuditEvent
from schoolsync.errors import ConcurrentWriteError, DuplicateRecordError, NotFoundError
from schoolsync.identifiers import Laestab, Postcode, Upn, Urn, upn_check_letter
from schoolsync.people import Gender, Pupil, SchoolClass, StaffMember, YearGroup
from schoolsync.ports import Store, UnitOfWork
from schoolsync.records.accounts import ActivationChallenge
from schoolsync.records.audit import AuditAction
from schoolsync.records.brokers import QueuedResult, ResultState, SyncWatermark
from schoolsync.records.changes import HEAD_ID, AccessChange, change_id
from schoolsync.records.connections import ConnectionStatus, DataSharing, MisConnection
from schoolsync.records.decisions import MatchChoice, MatchDecision
from schoolsync.records.messages import OutboundMessage, OutboxEntry
from schoolsync.records.nightly import JobStatus, NightlyJob
from schoolsync.records.tables import TABLES, TABLES_BY_NAME
from schoolsync.sync.records import (
    Backup,
    DeletedRecord,
    RecordKind,
    SyncLink,
    SyncState,
    Tombstone,
)
from schoolsync.trusts import Country, Membership, MembershipStatus, School, Trust, TrustKind

__all__ = [
    "HandEditedRow",
    "StoreContract",
    "hand_edited_rows",
    "postgres_admin_dsn",
    "sample_records",
    "throwaway_postgres_database",
]

_WAIT = 0.5  # seconds a test holds a lock to see whether another writer waits


def _upn(body: str) -> Upn:
    return Upn.parse(upn_check_letter(body) + body)


def sample_records(school_id: str = "school-1", trust_id: str = "trust-1") -> dict[str, list[Any]]:
    """One or two realistic records of every kind, keyed by unit-of-work attribute name.

    Fields that need care in storage are filled in: identifiers, dates and aware datetimes
    (UTC and British Summer Time), frozensets, enums, tuples, non-ASCII names and JSON blobs.
    """
    at = datetime(2024, 9, 2, 8, 30, tzinfo=UTC)
    bst = timezone(timedelta(hours=1))
    upns = [_upn("801200001001"), _upn("820100012345")]
    pupil = Pupil(
        id=f"{school_id}-pupil-1",
        school_id=school_id,
        forename="Zoë",
        surname="Ó Súilleabháin",
        mis_id="1001",
        upn=upns[0],
        former_upns=(upns[1],),
        preferred_forename="Zo",
        date_of_birth=date(2015, 3, 14),
        gender=Gender.FEMALE,
        pupil_premium=True,
        intake_year=2019,
        year_code="5",
        class_ids=("5A", "5-maths"),
        email="zoe@example.org",
    )
    return {
        "trusts": [
            Trust(
                id=trust_id,
                name="Northern Lights Academy Trust",
                kind=TrustKind.MULTI_ACADEMY_TRUST,
                designated_academy_trust=True,
            )
        ],
        "schools": [
            School(
                id=school_id,
                name="St Mary's C of E Primary",
                postcode=Postcode.parse("LS1 4AP"),
                country=Country.ENGLAND,
                urn=Urn.parse("100000"),
                former_urns=(Urn.parse("100001"),),
                laestab=Laestab.parse("3832001"),
            )
        ],
        "memberships": [
            Membership(
                id=f"{school_id}-membership",
                trust_id=trust_id,
                school_id=school_id,
                status=MembershipStatus.ACCEPTED,
                invited_at=at,
                responded_at=at.astimezone(bst),
            )
        ],
        "grants": [
            Grant(
                id=f"{school_id}-grant",
                trust_id=trust_id,
                school_id=school_id,
                permissions=frozenset({"pupils.view", "staff.view"}),
                account_ids=frozenset({"acc-2", "acc-1"}),
                granted_at=at,
            )
        ],
        "accounts": [
            Account(
                id=f"{school_id}-account",
                trust_id=trust_id,
                email="head@example.org",
                name="Siân Jones",
                status=AccountStatus.ACTIVE,
                staff_ids=("st-1",),
                created_at=at,
            )
        ],
        "assignments": [
            RoleAssignment(
                id=f"{school_id}-assignment",
                account_id=f"{school_id}-account",
                trust_id=trust_id,
                role="headteacher",
                school_id=school_id,
                assigned_at=at,
            )
        ],
        "pupils": [
            pupil,
            Pupil(id=f"{school_id}-pupil-2", school_id=school_id, forename="Al", surname="Li"),
        ],
        "staff": [
            StaffMember(
                id=f"{school_id}-staff-1",
                school_id=school_id,
                forename="Gareth",
                surname="Evans",
                title="Mr",
                staff_code="GEV",
                class_ids=("5A",),
            )
        ],
        "classes": [
            SchoolClass(
                id=f"{school_id}-class-5A",
                school_id=school_id,
                name="5A",
                year_group_ids=("y5", "y6"),
                subject="Mathematics",
            )
        ],
        "year_groups": [
            YearGroup(
                id=f"{school_id}-y5",
                school_id=school_id,
                name="Year 5",
                nc_year="5",
                intake_year=2019,
            )
        ],
        "sync_links": [
            SyncLink(
                id=f"{school_id}-link",
                school_id=school_id,
                kind=RecordKind.PUPIL,
                app_id=pupil.id,
                mis_id="1001",
                state=SyncState.OUT_OF_SYNC,
                linked_at=at,
            )
        ],
        "backups": [
            Backup(
                id=f"{school_id}-backup",
                school_id=school_id,
                kind=RecordKind.PUPIL,
                record_id=pupil.id,
                taken_at=at,
                data={"forename": "Zoë", "class_ids": ["5A"], "nested": {"n": 1.5, "b": None}},
            )
        ],
        "deleted": [
            DeletedRecord(
                id=f"{school_id}-deleted",
                school_id=school_id,
                kind=RecordKind.STAFF,
                record_id="st-9",
                deleted_at=at,
                purge_after=at + timedelta(days=30),
                data={"forename": "X"},
            )
        ],
        "tombstones": [
            Tombstone(
                id=f"{school_id}-tombstone",
                school_id=school_id,
                kind=RecordKind.PUPIL,
                key_hash="9f86d081884c7d659a2feaa0c55ad015",
                erased_at=at,
            )
        ],
        "outbox": [
            OutboxEntry(
                id=f"{school_id}-outbox-1",
                message=OutboundMessage(
                    kind="welcome",
                    to="zoë.teacher@example.org",
                    subject="Welcome to St Mary's",
                    data={"name": "Zoë", "link": "https://app.example/welcome?t=a&b=ç"},
                ),
                queued_at=at.astimezone(bst),
                attempts=2,
                next_attempt_at=at + timedelta(minutes=5),
                error="SMTPResponseException 451",
                school_id=school_id,
                trust_id=trust_id,
            )
        ],
        "sync_watermarks": [
            SyncWatermark(
                id=f"{school_id}:wonde",
                school_id=school_id,
                provider="wonde",
                school="A1930499544",
                value="2024-09-02 07:30:00",
                options="0f1e2d3c4b5a6978",
                taken_at=at,
                committed_at=at.astimezone(bst),
            )
        ],
        "result_outbox": [
            QueuedResult(
                id=f"{school_id}-result-1",
                school_id=school_id,
                provider="assembly",
                pupil_id=pupil.id,
                payload={"subject_id": 2, "grade_id": 7, "comment": "Très bien"},
                marked_at=at,
                queued_at=at.astimezone(bst),
                historical=True,
                state=ResultState.UNCERTAIN,
                attempts=2,
                last_error="timed out",
            )
        ],
        "nightly_jobs": [
            NightlyJob(
                id=f"night-20260302T0200Z:{school_id}",
                run_id="night-20260302T0200Z",
                school_id=school_id,
                trust_id="trust-1",
                status=JobStatus.FAILED,
                problem="broker",
                reason="wonde school 'A1', students: gave up after 5 attempts: rate limited (429)",
                transient=True,
                attempts=3,
                pupils_changed=0,
                queued_at=at,
                started_at=at.astimezone(bst),
                finished_at=at,
                timings={"fetch": 1.25, "sync": 0.5},
            )
        ],
        "match_decisions": [
            MatchDecision.make(
                school_id=school_id,
                kind=RecordKind.PUPIL,
                choice=MatchChoice.NOT_MATCH,
                mis_id="1001",
                app_id=pupil.id,
                decided_at=at.astimezone(bst),
                decided_by=f"{school_id}-account",
            ),
            MatchDecision.make(
                school_id=school_id,
                kind=RecordKind.STAFF,
                choice=MatchChoice.NEW,
                mis_id="Ω-7",
                decided_at=at,
            ),
        ],
        "mis_connections": [
            MisConnection(
                school_id=school_id,
                provider="wonde",
                required_scopes={"students.read", "employees.read"},
                optional_scopes={"assessment.write"},
                granted_scopes={"students.read", "employees.read", "assessment.write"},
                status=ConnectionStatus.AUTHORISED,
                changed_at=at.astimezone(bst),
                changed_by=f"{school_id}-account",
                data_sharing=DataSharing(share_results=True),
                sharing_scope="assessment.write",
            )
        ],
        "activation_challenges": [
            ActivationChallenge(
                account_id=f"{school_id}-account",
                salt="00112233445566778899aabbccddeeff",
                link_hash="ab" * 32,
                code_hash="cd" * 32,
                created_at=at,
                expires_at=(at + timedelta(days=7)).astimezone(bst),
                attempts=3,
                used_at=None,
            )
        ],
        "access_changes": [
            AccessChange(id=HEAD_ID, version=1, at=at),
            AccessChange(
                id=change_id(1),
                version=1,
                at=at.astimezone(bst),
                events=(
                    AuditEvent(
                        id="change-event-1",
                        at=at,
                        actor_id=f"{school_id}-account",
                        action=AuditAction.ROLE_ASSIGNED,
                        subject_kind="assignment",
                        subject_id=f"{school_id}-assignment",
                        trust_id=trust_id,
                        school_id=school_id,
                        account_id=f"{school_id}-account",
                        after={"id": f"{school_id}-assignment", "role": "headteacher"},
                    ),
                ),
            ),
        ],
    }


@attrs.frozen(kw_only=True)
class HandEditedRow:
    """A row of a SQL store's table edited by hand into an invalid state.

    Attributes:
        table: the table (``"pupils"``; ``"audit_events"`` for the audit log).
        key: the record's id (for the audit log, errors name the row's ``seq`` instead).
        label: what was done to it (``"bad-json"``, ``"missing-field"``, ``"wrong-type"``...).
        data: the new content of the row's ``data`` column (JSON text).
        reason: a fragment the :class:`~schoolsync.errors.CorruptRecordError` reason contains.
    """

    table: str
    key: str
    label: str
    data: str
    reason: str

    @property
    def json_valid(self) -> bool:
        """False for rows a ``jsonb`` column cannot hold (invalid JSON text)."""
        try:
            json.loads(self.data)
        except ValueError:
            return False
        return True


def hand_edited_rows(school_id: str = "school-1") -> list[HandEditedRow]:
    """For every table of :func:`sample_records` (store them first) and the audit log: the
    first record's row as bad JSON, not an object, with a required field missing, with a text
    field holding a number, and (where the record has a :class:`~schoolsync.identifiers.Upn`)
    with an invalid UPN."""
    from schoolsync.serialisation import converter
    from schoolsync.storage.codec import AUDIT_TABLE

    found: list[HandEditedRow] = []
    samples: list[tuple[str, Any]] = [
        (name, records[0]) for name, records in sample_records(school_id).items()
    ]
    samples.append((AUDIT_TABLE, _event("e1", datetime(2024, 9, 2, 8, 30, tzinfo=UTC))))
    for table, record in samples:
        record_type = TABLES_BY_NAME[table].record_type if table in TABLES_BY_NAME else AuditEvent
        data = converter.unstructure(record, record_type)
        required = next(
            f.name
            for f in attrs.fields(record_type)
            if f.name != "id" and f.default is attrs.NOTHING
        )
        text = next(
            f.name
            for f in attrs.fields(record_type)
            if isinstance(data.get(f.name), str) and f.name != "id"
        )
        cases = [
            ("bad-json", json.dumps(data)[:-1], "invalid JSON"),
            ("not-an-object", json.dumps([data]), "not a JSON object"),
            (
                "missing-field",
                json.dumps({k: v for k, v in data.items() if k != required}),
                required,
            ),
            ("wrong-type", json.dumps({**data, text: 12345}), text),
        ]
        if isinstance(getattr(record, "upn", None), Upn):
            cases.append(("bad-upn", json.dumps({**data, "upn": "A12345678901X"}), "upn"))
        found += [
            HandEditedRow(table=table, key=record.id, label=label, data=d, reason=reason)
            for label, d, reason in cases
        ]
    return found


def _pupil(id: str, school_id: str = "school-1", surname: str = "Smith") -> Pupil:
    return Pupil(id=id, school_id=school_id, forename="Sam", surname=surname)


def _event(id: str, at: datetime, **kw: Any) -> AuditEvent:
    return AuditEvent(
        id=id,
        at=at,
        actor_id="acc-1",
        action="pupil.update",
        subject_kind="pupil",
        subject_id="p1",
        **kw,
    )


def _repo(uow: UnitOfWork, name: str) -> Any:
    return uow.repository(TABLES_BY_NAME[name])


_ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "add", "remove", "commit", "rollback"]),
        st.integers(min_value=0, max_value=5),
        st.text(alphabet="abcdefgh", min_size=1, max_size=4),
    ),
    max_size=25,
)


def _writer_thread(
    store: Store, body: Callable[[UnitOfWork, dict[str, Any]], None]
) -> tuple[dict[str, Any], threading.Event, threading.Thread]:
    """Run *body* in a unit of work on a new thread. The outcome dict gets ``refused`` on
    ConcurrentWriteError, ``error`` on any other exception; the event is set when it ends."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            with store.unit_of_work() as uow:
                body(uow, outcome)
        except ConcurrentWriteError:
            outcome["refused"] = True
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    return outcome, done, thread


def _second_writer_never_interleaves(store: Store, lock: Callable[[UnitOfWork], None]) -> None:
    """While one unit of work holds *lock*, a second taking the same lock is refused or waits
    until the first commits, and then reads the first's work."""

    def second(uow: UnitOfWork, outcome: dict[str, Any]) -> None:
        lock(uow)
        outcome["locked_at"] = time.monotonic()
        outcome["saw"] = uow.pupils.get("p1")
        uow.pupils.put(_pupil("p2"))
        uow.commit()

    with store.unit_of_work() as first:
        lock(first)
        first.pupils.put(_pupil("p1"))
        outcome, done, thread = _writer_thread(store, second)
        done.wait(_WAIT)
        assert "locked_at" not in outcome, "the second writer got the lock while held"
        released_at = time.monotonic()
        first.commit()
    thread.join(60)
    assert done.is_set()
    assert "error" not in outcome, outcome.get("error")
    if "refused" not in outcome:
        assert outcome["locked_at"] >= released_at
        assert outcome["saw"] == _pupil("p1"), "the second writer must see the first's work"


def _other_writer_proceeds(
    store: Store,
    first_lock: Callable[[UnitOfWork], None],
    second_lock: Callable[[UnitOfWork], None],
    *,
    waits: bool,
) -> None:
    """While one unit of work holds *first_lock*, a second taking *second_lock* (another
    school or trust) proceeds, or, when the adapter has one writer at a time (*waits*), waits
    and then proceeds; it is never refused, and both writes are kept."""

    def second(uow: UnitOfWork, outcome: dict[str, Any]) -> None:
        second_lock(uow)
        uow.pupils.put(_pupil("p2", "school-2"))
        uow.commit()
        outcome["done_at"] = time.monotonic()

    with store.unit_of_work() as first:
        first_lock(first)
        first.pupils.put(_pupil("p1"))
        outcome, done, thread = _writer_thread(store, second)
        if waits:
            done.wait(_WAIT)
            assert not done.is_set(), "the second writer did not wait"
        else:
            assert done.wait(30), (
                "the second writer was blocked by another school's or trust's lock"
            )
        released_at = time.monotonic()
        first.commit()
    thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert "refused" not in outcome, "a writer to another school or trust was refused"
    if waits:
        assert outcome["done_at"] >= released_at
    else:
        assert outcome["done_at"] < released_at
    with store.unit_of_work() as uow:
        assert [p.id for p in uow.pupils.list()] == ["p1", "p2"]


class StoreContract:
    """The storage contract as pytest tests; subclass it and override the ``store`` fixture.

    Set :attr:`serialises_all_writers` to True if the adapter's ``lock_school`` and
    ``lock_trust`` lock every school and trust at once (as SQLite does); the tests for
    different schools and trusts then check that the second writer waits instead of
    proceeding.
    """

    serialises_all_writers: bool = False

    @pytest.fixture
    def store(self) -> Store:
        """A new, empty store (override this fixture in your subclass)."""
        pytest.fail("override the `store` fixture to return a new, empty store")

    # --- records round-trip -------------------------------------------------------------------

    def test_every_registered_table_is_stored(self, store: Store) -> None:
        """Every table of the registry has sample records here, and the store keeps them:
        through ``uow.repository(table)`` and the attribute named after the table alike."""
        samples = sample_records()
        assert sorted(samples) == sorted(t.name for t in TABLES), "a table without samples"
        with store.unit_of_work() as uow:
            for table in TABLES:
                repo = uow.repository(table)
                assert repo is getattr(uow, table.name), table.name
                repo.put_many(samples[table.name])
            uow.commit()
        with store.unit_of_work() as uow:
            for table in TABLES:
                assert uow.repository(table).list() == sorted(
                    samples[table.name], key=lambda r: r.id
                ), table.name

    def test_every_record_kind_round_trips_unchanged(self, store: Store) -> None:
        """Each kind of record reads back equal to what was stored, after commit."""
        samples = sample_records()
        with store.unit_of_work() as uow:
            for name, records in samples.items():
                _repo(uow, name).put_many(records)
            uow.commit()
        with store.unit_of_work() as uow:
            for name, records in samples.items():
                repo = _repo(uow, name)
                for record in records:
                    assert repo.get(record.id) == record, name
                    assert repo.require(record.id) == record, name
                assert repo.list() == sorted(records, key=lambda r: r.id), name
                assert repo.count() == len(records), name

    def test_missing_records(self, store: Store) -> None:
        """get() of an unknown id is None; require() and remove() raise NotFoundError."""
        with store.unit_of_work() as uow:
            for name in sample_records():
                repo = _repo(uow, name)
                assert repo.get("nope") is None
                with pytest.raises(NotFoundError):
                    repo.require("nope")
                with pytest.raises(NotFoundError):
                    repo.remove("nope")

    def test_add_refuses_an_existing_id(self, store: Store) -> None:
        """add() raises DuplicateRecordError for a committed or pending id and changes nothing."""
        with store.unit_of_work() as uow:
            uow.pupils.add(_pupil("p1"))
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(DuplicateRecordError):
                uow.pupils.add(_pupil("p1", surname="Other"))
            uow.pupils.add(_pupil("p2"))
            with pytest.raises(DuplicateRecordError):
                uow.pupils.add(_pupil("p2", surname="Other"))
            assert uow.pupils.require("p1").surname == "Smith"
            assert uow.pupils.require("p2").surname == "Smith"
            uow.commit()
        with store.unit_of_work() as uow:
            assert [p.id for p in uow.pupils.list()] == ["p1", "p2"]

    def test_put_inserts_or_replaces(self, store: Store) -> None:
        """put() replaces the record with the same id; put_many() too, the last one winning."""
        with store.unit_of_work() as uow:
            uow.pupils.put(_pupil("p1"))
            uow.pupils.put(_pupil("p1", surname="Jones"))
            uow.pupils.put_many(
                [_pupil("p2"), _pupil("p3"), _pupil("p2", surname="Brown"), _pupil("p1")]
            )
            uow.pupils.put_many([])
            uow.commit()
        with store.unit_of_work() as uow:
            assert [(p.id, p.surname) for p in uow.pupils.list()] == [
                ("p1", "Smith"),
                ("p2", "Brown"),
                ("p3", "Smith"),
            ]

    def test_put_many_accepts_any_iterable(self, store: Store) -> None:
        """put_many() takes a generator, stores thousands of records in one call and replaces
        stored ones in bulk, the last of a repeated id winning."""
        with store.unit_of_work() as uow:
            uow.pupils.put_many(_pupil(f"p{i:05d}", f"s{i % 3}") for i in range(3000))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.pupils.count() == 3000
            assert uow.pupils.count(school_id="s1") == 1000
            ids = [p.id for p in uow.pupils.list(school_id="s1")]
            assert ids == [f"p{i:05d}" for i in range(1, 3000, 3)]
            # A large batch replacing stored records, with repeated ids: the last one wins.
            uow.pupils.put_many(
                [_pupil(f"p{i:05d}", "s1", "Old") for i in range(2000, 4000)]
                + [_pupil(f"p{i:05d}", "s1", "New") for i in range(2000, 4000)]
            )
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.pupils.count() == 4000
            assert {p.surname for p in uow.pupils.list()[2000:]} == {"New"}
            assert uow.pupils.require("p01999").surname == "Smith"

    def test_list_filters_by_school_and_orders_by_id(self, store: Store) -> None:
        """list(school_id=) returns only that school's records, ordered by id; count agrees."""
        with store.unit_of_work() as uow:
            for school in ("a", "b"):
                for name, records in sample_records(school_id=school).items():
                    _repo(uow, name).put_many(records)
            uow.pupils.put_many([_pupil("z", "a"), _pupil("B", "a"), _pupil("é", "a")])
            uow.commit()
        with store.unit_of_work() as uow:
            ids = [p.id for p in uow.pupils.list(school_id="a")]
            assert ids == sorted(["a-pupil-1", "a-pupil-2", "z", "B", "é"])
            assert uow.pupils.count(school_id="a") == 5
            assert uow.pupils.count(school_id="nowhere") == 0
            assert uow.pupils.list(school_id="nowhere") == []
            in_b = sample_records(school_id="b")
            for table in TABLES:
                if not table.school_scoped:
                    continue
                listed = uow.repository(table).list(school_id="b")
                assert [r.school_id for r in listed] == ["b"] * len(listed)
                assert listed == sorted(in_b[table.name], key=lambda r: r.id), table.name
            # Records without a school_id match no school.
            assert uow.trusts.list(school_id="a") == []
            assert uow.accounts.count(school_id="a") == 0

    def test_get_many_reads_the_records_with_those_ids(self, store: Store) -> None:
        """``schoolsync.sync.state.get_many(repo, ids)`` (the repository's own ``get_many``
        where it has one, as the bundled stores do) returns the records with those ids by id,
        absent and repeated ids aside, across more ids than one query takes."""
        from schoolsync.sync.state import get_many

        with store.unit_of_work() as uow:
            uow.pupils.put_many(_pupil(f"p{n:04d}", "a") for n in range(1200))
            uow.commit()
        with store.unit_of_work() as uow:
            wanted = [f"p{n:04d}" for n in range(0, 1200, 2)] + ["p0000", "absent"]
            found = get_many(uow.pupils, wanted)
            assert sorted(found) == sorted(set(wanted) - {"absent"})
            assert found["p0010"] == uow.pupils.require("p0010")
            assert get_many(uow.pupils, []) == {}
            assert get_many(uow.staff, ["p0000"]) == {}

    def test_remove_deletes(self, store: Store) -> None:
        """remove() deletes the record for good once committed."""
        with store.unit_of_work() as uow:
            uow.pupils.put_many([_pupil("p1"), _pupil("p2")])
            uow.commit()
        with store.unit_of_work() as uow:
            uow.pupils.remove("p1")
            assert uow.pupils.get("p1") is None
            assert uow.pupils.count() == 1
            uow.commit()
        with store.unit_of_work() as uow:
            assert [p.id for p in uow.pupils.list()] == ["p2"]
            uow.pupils.add(_pupil("p1", surname="Again"))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.pupils.require("p1").surname == "Again"

    # --- units of work ------------------------------------------------------------------------

    def test_changes_are_visible_inside_the_unit_at_once(self, store: Store) -> None:
        """A unit of work reads its own uncommitted changes through get, list and count."""
        with store.unit_of_work() as uow:
            uow.pupils.put(_pupil("p1"))
            uow.pupils.put(_pupil("p2", "other"))
            assert uow.pupils.require("p1") == _pupil("p1")
            assert [p.id for p in uow.pupils.list(school_id="school-1")] == ["p1"]
            assert uow.pupils.count() == 2
            uow.pupils.remove("p2")
            assert uow.pupils.count() == 1

    def test_uncommitted_changes_are_invisible_to_others(self, store: Store) -> None:
        """Another unit of work sees nothing of an uncommitted one, then everything at commit."""
        with store.unit_of_work() as writer:
            writer.pupils.put(_pupil("p1"))
            writer.audit.append(_event("e1", datetime(2024, 1, 1, tzinfo=UTC)))
            with store.unit_of_work() as reader:
                assert reader.pupils.get("p1") is None
                assert reader.audit.events() == []
            writer.commit()
            with store.unit_of_work() as reader:
                assert reader.pupils.get("p1") == _pupil("p1")
                assert [e.id for e in reader.audit.events()] == ["e1"]

    def test_leaving_without_commit_rolls_back(self, store: Store) -> None:
        """Leaving the with block without commit, normally or by an exception, keeps nothing."""
        with store.unit_of_work() as uow:
            uow.pupils.put(_pupil("p1"))
            uow.schools.put(sample_records()["schools"][0])

        def fail_midway() -> None:
            with store.unit_of_work() as uow:
                uow.pupils.put(_pupil("p2"))
                uow.audit.append(_event("e1", datetime(2024, 1, 1, tzinfo=UTC)))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail_midway()
        with store.unit_of_work() as uow:
            assert uow.pupils.count() == 0
            assert uow.schools.count() == 0
            assert uow.audit.events() == []

    def test_rollback_discards_and_the_unit_goes_on(self, store: Store) -> None:
        """rollback() discards changes since the last commit; the unit of work stays usable."""
        with store.unit_of_work() as uow:
            uow.pupils.put(_pupil("kept"))
            uow.commit()
            uow.pupils.put(_pupil("dropped"))
            uow.pupils.remove("kept")
            uow.rollback()
            assert [p.id for p in uow.pupils.list()] == ["kept"]
            uow.pupils.put(_pupil("later"))
            uow.commit()
            uow.pupils.put(_pupil("never"))
        with store.unit_of_work() as uow:
            assert [p.id for p in uow.pupils.list()] == ["kept", "later"]

    def test_a_failed_write_keeps_the_unit_usable(self, store: Store) -> None:
        """After DuplicateRecordError the unit of work's earlier changes still commit."""
        with store.unit_of_work() as uow:
            uow.pupils.put(_pupil("p1"))
            with pytest.raises(DuplicateRecordError):
                uow.pupils.add(_pupil("p1"))
            with pytest.raises(NotFoundError):
                uow.pupils.remove("nope")
            uow.pupils.put(_pupil("p2"))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.pupils.count() == 2

    # Each subclass runs this with its own store: differing executors are intended.
    @settings(
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ]
    )
    @given(ops=_ops)
    def test_behaves_like_a_dictionary_with_transactions(
        self, store: Store, ops: list[tuple[str, int, str]]
    ) -> None:
        """Any sequence of put/add/remove/commit/rollback leaves what a dict model predicts."""
        school = f"s-{uuid.uuid4().hex}"
        committed: dict[str, str] = {}
        pending: dict[str, str] = {}
        with store.unit_of_work() as uow:
            for op, n, surname in ops:
                key = f"{school}-{n}"
                if op == "put":
                    uow.pupils.put(_pupil(key, school, surname))
                    pending[key] = surname
                elif op == "add":
                    if key in pending:
                        with pytest.raises(DuplicateRecordError):
                            uow.pupils.add(_pupil(key, school, surname))
                    else:
                        uow.pupils.add(_pupil(key, school, surname))
                        pending[key] = surname
                elif op == "remove":
                    if key in pending:
                        uow.pupils.remove(key)
                        del pending[key]
                    else:
                        with pytest.raises(NotFoundError):
                            uow.pupils.remove(key)
                elif op == "commit":
                    uow.commit()
                    committed = dict(pending)
                else:
                    uow.rollback()
                    pending = dict(committed)
                listed = [(p.id, p.surname) for p in uow.pupils.list(school_id=school)]
                assert listed == sorted(pending.items())
        with store.unit_of_work() as uow:
            listed = [(p.id, p.surname) for p in uow.pupils.list(school_id=school)]
            assert listed == sorted(committed.items())

    # --- audit log ----------------------------------------------------------------------------

    def test_audit_events_filter_and_order(self, store: Store) -> None:
        """events() filters by account, school, trust and [since, until), oldest first."""
        t0 = datetime(2024, 9, 1, 9, 0, tzinfo=UTC)
        bst = timezone(timedelta(hours=1))
        events = [
            _event("e3", t0 + timedelta(hours=2), school_id="s1", trust_id="t1"),
            _event("e1", t0, account_id="a1", school_id="s1", trust_id="t1"),
            # 10:30 BST is 09:30 UTC: between e1 and e3.
            _event(
                "e2",
                datetime(2024, 9, 1, 10, 30, tzinfo=bst),
                account_id="a2",
                school_id="s2",
                trust_id="t1",
                before={"surname": "Smith"},
                after={"surname": "Smyth", "tags": ["x", 1, None, True]},
            ),
            _event("e4", t0 + timedelta(days=1), account_id="a1", trust_id="t2"),
        ]
        with store.unit_of_work() as uow:
            for event in events:
                uow.audit.append(event)
            uow.commit()
        with store.unit_of_work() as uow:
            log = uow.audit
            assert log.events() == sorted(events, key=lambda e: e.at)
            assert [e.id for e in log.events(account_id="a1")] == ["e1", "e4"]
            assert [e.id for e in log.events(school_id="s1")] == ["e1", "e3"]
            assert [e.id for e in log.events(trust_id="t1")] == ["e1", "e2", "e3"]
            assert [e.id for e in log.events(since=t0 + timedelta(minutes=30))] == [
                "e2",
                "e3",
                "e4",
            ]
            assert [e.id for e in log.events(until=t0 + timedelta(minutes=30))] == ["e1"]
            assert [e.id for e in log.events(since=t0, until=t0 + timedelta(hours=2))] == [
                "e1",
                "e2",
            ]
            assert [e.id for e in log.events(trust_id="t1", account_id="a2")] == ["e2"]
            assert log.events(school_id="s9") == []

    def test_audit_events_at_the_same_time_keep_append_order(self, store: Store) -> None:
        """Events with equal timestamps come back in the order they were appended."""
        at = datetime(2024, 9, 1, 9, 0, tzinfo=UTC)
        with store.unit_of_work() as uow:
            for i in (3, 1, 2):
                uow.audit.append(_event(f"e{i}", at))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.audit.append(_event("e0", at))
            assert [e.id for e in uow.audit.events()] == ["e3", "e1", "e2", "e0"]

    # --- concurrent writers -------------------------------------------------------------------

    def test_writers_to_the_same_school_never_interleave(self, store: Store) -> None:
        """A second writer locking the same school is refused or waits until the first ends."""
        _second_writer_never_interleaves(store, lambda uow: uow.lock_school("school-1"))

    def test_the_school_lock_ends_with_the_transaction(self, store: Store) -> None:
        """After commit (or rollback) another unit of work can lock the same school."""
        with store.unit_of_work() as first:
            first.lock_school("school-1")
            first.commit()
            with store.unit_of_work() as second:
                second.lock_school("school-1")
                second.rollback()
            first.lock_school("school-1")
            first.lock_school("school-1")  # taking a lock you hold is harmless
            first.rollback()
        with store.unit_of_work() as third:
            third.lock_school("school-1")

    def test_writers_to_different_schools(self, store: Store) -> None:
        """A writer to another school proceeds while the first holds its lock (or, for
        adapters with one writer at a time, waits and then proceeds); it is never refused."""
        _other_writer_proceeds(
            store,
            lambda uow: uow.lock_school("school-1"),
            lambda uow: uow.lock_school("school-2"),
            waits=self.serialises_all_writers,
        )

    def test_writers_to_the_same_trust_never_interleave(self, store: Store) -> None:
        """A second writer locking the same trust is refused or waits until the first ends,
        and then reads what the first committed."""
        _second_writer_never_interleaves(store, lambda uow: uow.lock_trust("trust-1"))

    def test_the_trust_lock_ends_with_the_transaction(self, store: Store) -> None:
        """After commit (or rollback) another unit of work can lock the same trust; taking
        a trust lock you hold, and then a school lock, is harmless."""
        with store.unit_of_work() as first:
            first.lock_trust("trust-1")
            first.commit()
            with store.unit_of_work() as second:
                second.lock_trust("trust-1")
                second.lock_school("school-1")
                second.rollback()
            first.lock_trust("trust-1")
            first.lock_trust("trust-1")
            first.lock_school("school-1")
            first.rollback()
        with store.unit_of_work() as third:
            third.lock_trust("trust-1")
            third.lock_school("school-1")

    @pytest.mark.parametrize("other", [("trust", "trust-2"), ("school", "trust-1")])
    def test_a_trust_lock_holds_only_its_trust(self, store: Store, other: tuple[str, str]) -> None:
        """Another trust, or a school whatever its id, is not held by a trust's lock (adapters
        with one writer at a time make the second writer wait, never refuse it)."""
        kind, key = other
        _other_writer_proceeds(
            store,
            lambda uow: uow.lock_trust("trust-1"),
            lambda uow: (uow.lock_trust if kind == "trust" else uow.lock_school)(key),
            waits=self.serialises_all_writers,
        )


def postgres_admin_dsn() -> str:
    """The DSN in ``SCHOOLSYNC_TEST_POSTGRES_DSN``, or skip the test; with
    ``SCHOOLSYNC_REQUIRE_POSTGRES=1`` a missing DSN fails instead of skipping."""
    dsn = os.environ.get("SCHOOLSYNC_TEST_POSTGRES_DSN", "")
    if dsn:
        return dsn
    reason = (
        "PostgreSQL tests need a server: set SCHOOLSYNC_TEST_POSTGRES_DSN to a DSN allowed "
        "to CREATE DATABASE (e.g. postgresql://postgres@127.0.0.1:54329/postgres)"
    )
    if os.environ.get("SCHOOLSYNC_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason + " (SCHOOLSYNC_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


@contextmanager
def throwaway_postgres_database(admin_dsn: str) -> Iterator[str]:
    """Create a database with a random name, yield its DSN, drop it afterwards."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"schoolsync_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        params = conninfo_to_dict(admin_dsn)
        params["dbname"] = name
        yield make_conninfo("", **params)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
