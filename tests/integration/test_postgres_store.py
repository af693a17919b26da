"""PostgresStore behaviour beyond the storage contract: schemas, versions, corrupt rows and
writers in separate processes.

Needs SCHOOLSYNC_TEST_POSTGRES_DSN (see tests/contract/test_store_contract_postgres.py).
"""

from __future__ import annotations

import functools
import itertools
import json
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from schoolsync.audit import AuditEvent
from schoolsync.errors import ConcurrentWriteError, CorruptRecordError, SchemaVersionError
from schoolsync.people import Pupil
from schoolsync.storage import migrations
from schoolsync.testing.contracts import (
    HandEditedRow,
    hand_edited_rows,
    sample_records,
)


@pytest.fixture
def schema() -> str:
    return f"t_{secrets.token_hex(4)}"


def _sql(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement.encode(), params)
        return cursor.fetchall() if cursor.description else []


def _pupil(id: str = "p1", school_id: str = "s1", surname: str = "Secret-Surname") -> Pupil:
    return Pupil(id=id, school_id=school_id, forename="Zoë", surname=surname)


def test_the_store_module_imports_without_psycopg() -> None:
    """Importing schoolsync and its PostgreSQL module does not import psycopg."""
    code = (
        "import sys, schoolsync, schoolsync.storage, schoolsync.storage.postgres;"
        "assert 'psycopg' not in sys.modules, 'psycopg imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unreachable_server_is_a_storage_error() -> None:
    """A server that cannot be reached raises StorageError, not a psycopg exception."""
    from schoolsync.errors import StorageError
    from schoolsync.storage.postgres import PostgresStore

    with pytest.raises(StorageError, match="PostgreSQL error"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2")


@pytest.mark.postgres
def test_records_survive_reopening_and_schemas_are_separate(postgres_dsn: str, schema: str) -> None:
    """Committed records are there after reopening; another schema is another store."""
    from schoolsync.storage.postgres import PostgresStore

    with PostgresStore(postgres_dsn, schema=schema) as store, store.unit_of_work() as uow:
        uow.pupils.put(_pupil())
        uow.commit()
    with PostgresStore(postgres_dsn, schema=schema) as store, store.unit_of_work() as uow:
        assert uow.pupils.require("p1") == _pupil()
        assert store.schema_version() == migrations.SCHEMA_VERSION
    with PostgresStore(postgres_dsn, schema=schema + "_x") as other, other.unit_of_work() as uow:
        assert uow.pupils.count() == 0


@pytest.mark.postgres
def test_a_newer_schema_is_refused(postgres_dsn: str, schema: str) -> None:
    """A schema written by a newer schoolsync raises SchemaVersionError on open."""
    from schoolsync.storage.postgres import PostgresStore

    PostgresStore(postgres_dsn, schema=schema).close()
    _sql(
        postgres_dsn,
        f"INSERT INTO {schema}.{migrations.VERSION_TABLE} VALUES (%s, 'future', now())",
        (migrations.SCHEMA_VERSION + 1,),
    )
    with pytest.raises(SchemaVersionError):
        PostgresStore(postgres_dsn, schema=schema)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("[1, 2]", "not a JSON object"),
        ('{"id": "p1", "school_id": "s1", "forename": "Zoë"}', "surname"),
        (
            '{"id": "p1", "school_id": "s1", "forename": "Zoë", "surname": "S", '
            '"upn": "A12345678901X"}',
            "upn",
        ),
        ('{"id": "p2", "school_id": "s1", "forename": "Zoë", "surname": "S"}', "does not match"),
    ],
    ids=["not-an-object", "missing-field", "bad-upn", "wrong-id"],
)
def test_a_row_edited_into_an_invalid_state_names_table_and_key(
    postgres_dsn: str, schema: str, data: str, reason: str
) -> None:
    """A corrupt row raises CorruptRecordError naming the table and key, without personal data."""
    from schoolsync.storage.postgres import PostgresStore

    with PostgresStore(postgres_dsn, schema=schema) as store:
        with store.unit_of_work() as uow:
            uow.pupils.put_many([_pupil("p1"), _pupil("p0")])
            uow.commit()
        _sql(postgres_dsn, f"UPDATE {schema}.pupils SET data = %s::jsonb WHERE id = 'p1'", (data,))
        with store.unit_of_work() as uow:
            with pytest.raises(CorruptRecordError) as info:
                uow.pupils.get("p1")
            assert (info.value.table, info.value.key) == ("pupils", "p1")
            assert reason in info.value.reason
            assert "Zoë" not in str(info.value)
            with pytest.raises(CorruptRecordError):
                uow.pupils.list()
            assert uow.pupils.require("p0") == _pupil("p0")


# jsonb cannot hold invalid JSON text, so a hand edit cannot make that in PostgreSQL.
_EDITED = [edit for edit in hand_edited_rows() if edit.json_valid]


@pytest.fixture(scope="module")
def sample_store(postgres_dsn: str) -> Iterator[Any]:
    """A store holding sample_records() and one audit event, its audit trigger disabled."""
    from schoolsync.storage.postgres import PostgresStore

    schema = f"edited_{secrets.token_hex(4)}"
    with PostgresStore(postgres_dsn, schema=schema) as store:
        with store.unit_of_work() as uow:
            for name, records in sample_records().items():
                getattr(uow, name).put_many(records)
            uow.audit.append(_audit_event("e1"))
            uow.commit()
        _sql(postgres_dsn, f"ALTER TABLE {schema}.audit_events DISABLE TRIGGER USER")
        yield store
    _sql(postgres_dsn, f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
@pytest.mark.parametrize("edit", _EDITED, ids=[f"{e.table}-{e.label}" for e in _EDITED])
def test_a_hand_edited_row_in_any_table_names_table_and_key(
    postgres_dsn: str, sample_store: Any, edit: HandEditedRow
) -> None:
    """A non-object, a missing field, a wrong type or a bad UPN edited into any table (audit
    log included) gives CorruptRecordError naming table and key."""
    table = f"{sample_store.schema}.{edit.table}"
    column = "seq" if edit.table == "audit_events" else "id"
    [(key, original)] = _sql(
        postgres_dsn, f"SELECT {column}, data::text FROM {table} WHERE id = %s", (edit.key,)
    )
    _sql(postgres_dsn, f"UPDATE {table} SET data = %s::jsonb WHERE id = %s", (edit.data, edit.key))
    try:
        with sample_store.unit_of_work() as uow:
            if edit.table == "audit_events":
                read: Callable[[], object] = uow.audit.events
            else:
                read = functools.partial(getattr(uow, edit.table).get, edit.key)
            with pytest.raises(CorruptRecordError) as info:
                read()
            assert (info.value.table, info.value.key) == (edit.table, key)
            assert edit.reason in info.value.reason
    finally:
        _sql(
            postgres_dsn, f"UPDATE {table} SET data = %s::jsonb WHERE id = %s", (original, edit.key)
        )


def _audit_event(id: str) -> AuditEvent:
    return AuditEvent(
        id=id,
        at=datetime(2024, 1, 1, tzinfo=UTC),
        actor_id="a",
        action="x",
        subject_kind="pupil",
        subject_id="p1",
    )


@pytest.mark.postgres
def test_the_audit_log_is_append_only_in_the_database(postgres_dsn: str, schema: str) -> None:
    """UPDATE and DELETE on the audit table are refused by a trigger."""
    import psycopg

    from schoolsync.storage.postgres import PostgresStore

    with PostgresStore(postgres_dsn, schema=schema) as store, store.unit_of_work() as uow:
        uow.audit.append(
            AuditEvent(
                id="e1",
                at=datetime(2024, 1, 1, tzinfo=UTC),
                actor_id="a",
                action="x",
                subject_kind="pupil",
                subject_id="p1",
            )
        )
        uow.commit()
    for statement in (
        f"UPDATE {schema}.audit_events SET id = 'x'",
        f"DELETE FROM {schema}.audit_events",
    ):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            _sql(postgres_dsn, statement)
    assert _sql(postgres_dsn, f"SELECT count(*) FROM {schema}.audit_events") == [(1,)]


@pytest.mark.postgres
def test_a_lock_wait_past_the_timeout_is_refused_and_the_unit_goes_on(
    postgres_dsn: str, schema: str
) -> None:
    """lock_school gives up with ConcurrentWriteError after lock_timeout; the unit of work
    keeps its earlier changes and can still commit."""
    from schoolsync.storage.postgres import PostgresStore

    with PostgresStore(postgres_dsn, schema=schema, lock_timeout=0.2) as store:
        with store.unit_of_work() as first, store.unit_of_work() as second:
            first.lock_school("s1")
            second.pupils.put(_pupil("p2", "s2"))
            with pytest.raises(ConcurrentWriteError):
                second.lock_school("s1")
            second.lock_school("s2")
            second.commit()
            first.rollback()
        with store.unit_of_work() as uow:
            assert [p.id for p in uow.pupils.list()] == ["p2"]


_WORKER = textwrap.dedent(
    """
    import json, sys, time
    from schoolsync.people import Pupil
    from schoolsync.storage.postgres import PostgresStore

    dsn, schema, school, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    spans = []
    with PostgresStore(dsn, schema=schema) as store:
        time.sleep(max(0.0, float(sys.argv[5]) - time.time()))  # start together
        for _ in range(rounds):
            with store.unit_of_work() as uow:
                uow.lock_school(school)
                start = time.time()
                counter = uow.pupils.get(school + "-counter")
                n = 0 if counter is None else int(counter.surname)
                time.sleep(0.05)
                uow.pupils.put(Pupil(id=school + "-counter", school_id=school,
                                     forename="counter", surname=str(n + 1)))
                spans.append((start, time.time()))  # still holding the lock
                uow.commit()
    print(json.dumps(spans))
    """
)


def _run_workers(dsn: str, schema: str, schools: list[str], rounds: int) -> list[list[float]]:
    start_at = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, dsn, schema, school, str(rounds), str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for school in schools
    ]
    spans: list[list[float]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        spans.extend(json.loads(out))
    return sorted(spans)


@pytest.mark.postgres
def test_two_processes_on_one_school_are_serialised(postgres_dsn: str, schema: str) -> None:
    """Two processes doing read-modify-write on the same school never interleave: no update
    is lost and their locked spans never overlap."""
    from schoolsync.storage.postgres import PostgresStore

    PostgresStore(postgres_dsn, schema=schema).close()
    spans = _run_workers(postgres_dsn, schema, ["s1", "s1"], rounds=5)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end
    with PostgresStore(postgres_dsn, schema=schema) as store, store.unit_of_work() as uow:
        assert uow.pupils.require("s1-counter").surname == "10"


@pytest.mark.postgres
def test_two_processes_on_different_schools_run_at_once(postgres_dsn: str, schema: str) -> None:
    """Processes writing to different schools hold their locks at the same time."""
    from schoolsync.storage.postgres import PostgresStore

    PostgresStore(postgres_dsn, schema=schema).close()
    spans = _run_workers(postgres_dsn, schema, ["s1", "s2"], rounds=8)
    overlaps = sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)
    assert overlaps > 0
    with PostgresStore(postgres_dsn, schema=schema) as store, store.unit_of_work() as uow:
        assert uow.pupils.require("s1-counter").surname == "8"
        assert uow.pupils.require("s2-counter").surname == "8"


@pytest.mark.postgres
def test_text_postgresql_cannot_hold_is_a_storage_error(postgres_dsn: str, schema: str) -> None:
    """A NUL character, which PostgreSQL text and jsonb cannot hold, raises StorageError."""
    from schoolsync.errors import StorageError
    from schoolsync.storage.postgres import PostgresStore

    with PostgresStore(postgres_dsn, schema=schema) as store:
        with store.unit_of_work() as uow, pytest.raises(StorageError):
            uow.pupils.put(_pupil(surname="a\x00b"))
        with store.unit_of_work() as uow, pytest.raises(StorageError):
            uow.pupils.put_many([_pupil(f"p{i}", surname="a\x00b") for i in range(600)])
        with store.unit_of_work() as uow:
            assert uow.pupils.count() == 0


@pytest.mark.postgres
def test_a_role_without_create_on_the_database_uses_a_schema_made_for_it(
    postgres_dsn: str, schema: str
) -> None:
    """A least-privilege role (no CREATE on the database) can open a store in a schema the
    database owner created for it, and bulk-write through it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from schoolsync.storage.postgres import PostgresStore

    role = f"r_{secrets.token_hex(4)}"
    _sql(postgres_dsn, f"CREATE ROLE {role} LOGIN")
    try:
        _sql(postgres_dsn, f"CREATE SCHEMA {schema} AUTHORIZATION {role}")
        params = conninfo_to_dict(postgres_dsn)
        params["user"] = role
        with PostgresStore(make_conninfo("", **params), schema=schema) as store:
            with store.unit_of_work() as uow:
                uow.pupils.put_many(_pupil(f"p{i}") for i in range(1000))
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.pupils.count(school_id="s1") == 1000
    finally:
        _sql(postgres_dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        _sql(postgres_dsn, f"DROP ROLE {role}")
